"""A real (tiny) fine-tuning run: trains, caches, and reuses the run and its predictions."""

import pandas as pd
import pytest

from lmgate.core.cache import RunCache
from lmgate.data import LabeledData
from lmgate.core.config import TrainConfig
from lmgate.methods.finetune import finetune


pytestmark = pytest.mark.all_cores

def test_finetune_is_cached_with_identical_predictions(tmp_path, toy_splits):
    data = toy_splits
    config = TrainConfig(epochs=2, learning_rate=1e-3, batch_size=16, max_length=16)
    cache = RunCache(tmp_path)
    kwargs = dict(config=config, seed=0, device="cpu", cache=cache,
                  tokenizer_texts=data.train.texts)
    first = finetune("tiny-encoder", data, **kwargs)
    assert not first.cache_hit and len(first.history) >= 1
    assert "eval_loss" in first.history[0] and "train_loss" in first.history[0]
    result = first.predict(data.test, split="test")
    assert result.params == {"model": "tiny-encoder", "split": "test"}
    assert result.info["parameters"]["added_by_head"] > 0

    second = finetune("tiny-encoder", data, **kwargs)
    assert second.cache_hit and second.model is None          # nothing loaded, nothing trained
    again = second.predict(data.test, split="test")
    assert again.info["cache_hit"] and second.model is None
    assert again.y_pred.tolist() == result.y_pred.tolist()
    assert again.metrics == result.metrics


def test_predict_rejects_other_label_sets(tmp_path, toy_splits):
    data = toy_splits
    run = finetune("tiny-encoder", data, config=TrainConfig(epochs=1, max_length=16), seed=0,
                   device="cpu", cache=RunCache(tmp_path), tokenizer_texts=data.train.texts)
    other = LabeledData(pd.DataFrame({"text": ["x"], "label": [0]}), ("a", "b"))
    with pytest.raises(ValueError, match="trained on"):
        run.predict(other)


def test_training_runs_with_the_earlier_heap_frozen_and_unfreezes_it_even_on_errors():
    import gc

    from lmgate.methods.trainer import run_trainer

    class Train:
        def __init__(self, fail: bool):
            self.fail, self.frozen_during = fail, None

        def train(self):
            self.frozen_during = gc.get_freeze_count()
            if self.fail:
                raise RuntimeError("diverged")

    ok, bad = Train(False), Train(True)
    run_trainer(ok)
    with pytest.raises(RuntimeError, match="diverged"):
        run_trainer(bad)
    assert ok.frozen_during > 1000 and bad.frozen_during > 1000
    assert gc.get_freeze_count() == 0
