"""Fine-tuning on several processes: a real 2-process gloo DDP run, and the launch commands."""

import sys

import pytest

from lmgate.cache import RunCache
from lmgate.distributed import launch_command
from lmgate.errors import ConfigError
from lmgate.settings import TrainConfig
from lmgate.training import finetune


def test_two_process_gloo_finetune_trains_and_caches(tmp_path, toy_splits):
    data = toy_splits
    config = TrainConfig(epochs=2, learning_rate=1e-3, batch_size=8, max_length=16, processes=2)
    kwargs = dict(seed=0, device="cpu", cache=RunCache(tmp_path), tokenizer_texts=data.train.texts)
    ddp = finetune("tiny-encoder", data, config=config, **kwargs)
    assert not ddp.cache_hit and [h["epoch"] for h in ddp.history] == [1.0, 2.0]
    assert ddp.history[-1]["train_loss"] < ddp.history[0]["train_loss"] + 0.5
    result = ddp.predict(data.test)
    assert len(result.y_pred) == len(data.test)
    # A different world size is a different run; the same one is a cache hit.
    assert finetune("tiny-encoder", data, config=config, **kwargs).cache_hit
    single = finetune("tiny-encoder", data, config=config.replace(processes=1), **kwargs)
    assert not single.cache_hit and single.key != ddp.key


def test_launch_commands():
    job = "/tmp/job"
    torchrun = launch_command(TrainConfig(processes=4), job)
    assert torchrun[:4] == [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    assert "--nproc-per-node=4" in torchrun and torchrun[-3:] == ["-m", "lmgate.distributed", job]
    fsdp = launch_command(TrainConfig(processes=8, launcher="accelerate",
                                      accelerate_config="fsdp.yaml"), job)
    assert fsdp[1:3] == ["-m", "accelerate.commands.launch"]
    assert fsdp[3:5] == ["--config_file", "fsdp.yaml"] and "--num_processes=8" in fsdp
    # Without a config file accelerate must be told the kind of run, or it starts one process.
    assert "--multi_gpu" in launch_command(TrainConfig(processes=2, launcher="accelerate"), job,
                                           "cuda:0")
    with pytest.raises(ConfigError, match="unknown launcher"):
        launch_command(TrainConfig(processes=2, launcher="mpirun"), job)
    with pytest.raises(ConfigError, match="needs launcher"):
        launch_command(TrainConfig(processes=2, accelerate_config="x.yaml"), job)
    with pytest.raises(ConfigError, match="processes must be"):
        TrainConfig(processes=0)
