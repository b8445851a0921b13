"""Scale-out on existing engines: pytest-xdist workers pinned to GPUs (or sharing the CPU
cores), cases of one model kept on one worker, and `--lmgate-shard I/N` for many machines.

- xdist: the controller lists the visible GPUs and hands them to the workers; worker `gwI`
  sees only GPU I mod K (set before torch touches CUDA). Without GPUs each worker gets
  cores // workers torch threads. Every case gets an `xdist_group` named after its model, so
  `--dist loadgroup` loads a model once per worker, not once per test.
- shards: the selected cases, grouped by model, are dealt deterministically (largest group
  first, to the shard with the fewest cases) so every machine computes the same split;
  `lmgate merge` puts the shards' results folders together again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict

import pytest

from lmgate.plugin.selection import MODEL_PARAMS, item_params

GPU_KEY = "lmgate_gpus"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("lmgate").addoption(
        "--lmgate-shard", dest="lmgate_shard", default=None, metavar="I/N",
        help="run shard I of N (1-based) of the selected cases, grouped by model; merge the "
             "shards' results folders with `lmgate merge`")


#: More shards than any CI matrix runs; dealing cases to N shards costs memory in N.
MAX_SHARDS = 10_000


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` read as two ASCII integers with 1 <= I <= N <= MAX_SHARDS; a usage error
    otherwise (checked at configure, before collection)."""
    match = re.fullmatch(r"\s*([0-9]{1,6})\s*/\s*([0-9]{1,6})\s*", text or "")
    if not match or not 1 <= int(match[1]) <= int(match[2]) <= MAX_SHARDS:
        shown = text if len(text or "") <= 40 else text[:40] + "..."
        raise pytest.UsageError(f"lmgate: --lmgate-shard must be I/N with 1 <= I <= N <= "
                                f"{MAX_SHARDS}, got {shown!r}")
    return int(match[1]), int(match[2])


def visible_gpus() -> list[str]:
    """GPU ids the controller may hand out, without initialising CUDA in this process."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: tell each worker which GPUs exist."""
    node.workerinput[GPU_KEY] = visible_gpus()


def pytest_configure(config: pytest.Config) -> None:
    # Registered here too, so --strict-markers accepts it where pytest-xdist is not installed.
    config.addinivalue_line("markers", "xdist_group(name): cases of one model share an xdist "
                                       "worker under --dist loadgroup (added by lmgate)")
    if config.getoption("lmgate_shard", None) is not None:
        parse_shard(config.getoption("lmgate_shard"))   # a bad I/N stops the run before collection
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return
    index = int(re.sub(r"\D", "", workerinput.get("workerid", "gw0")) or 0)
    gpus = workerinput.get(GPU_KEY) or []
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    else:
        workers = int(workerinput.get("workercount", 1))
        share_cores(max(1, (os.cpu_count() or 1) // max(1, workers)))


#: What a worker did to its allocator (`--lmgate-keep-freed-memory`), sent back to the
#: controller, which runs no model itself but writes summary.md.
MEMORY_KEY = "lmgate_memory"


def pytest_sessionfinish(session: pytest.Session) -> None:
    from lmgate.plugin.options import MEMORY

    output = getattr(session.config, "workeroutput", None)
    kept = session.config.stash.get(MEMORY, None)
    if output is not None and kept:
        output[MEMORY_KEY] = kept


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """xdist controller: a worker's allocator policy is the session's (each worker applies
    the same settings)."""
    from lmgate.plugin.options import MEMORY

    kept = getattr(node, "workeroutput", {}).get(MEMORY_KEY)
    if kept:
        node.config.stash[MEMORY] = kept


def share_cores(threads: int) -> None:
    """Limit this process's torch to `threads` intra-op threads without importing torch
    (seconds per worker): torch reads OMP_NUM_THREADS when first imported; one that a conftest
    already imported is told directly."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def model_group(item: pytest.Item) -> str:
    """The model a case loads (its first model parameter), else its module."""
    params = item_params(item)
    for key in MODEL_PARAMS:
        if key in params:
            return f"model-{params[key]}"
    return f"module-{item.path.stem}"


def deal(groups: dict[str, list], shards: int) -> list[list[str]]:
    """Group names per shard: largest group first, each to the shard with the fewest cases."""
    loads, out = [0] * shards, [[] for _ in range(shards)]
    for name in sorted(groups, key=lambda g: (-len(groups[g]), g)):
        target = min(range(shards), key=lambda i: (loads[i], i))
        out[target].append(name)
        loads[target] += len(groups[name])
    return out


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups: dict[str, list[pytest.Item]] = defaultdict(list)
    placed = []
    for item in items:
        group = model_group(item)
        groups[group].append(item)
        placed.append((item, group))
        item.add_marker(pytest.mark.xdist_group(name=group))
    shard = config.getoption("lmgate_shard")
    if not shard:
        return
    index, total = parse_shard(shard)
    mine = set(deal(groups, total)[index - 1])
    kept = [item for item, group in placed if group in mine]
    dropped = [item for item, group in placed if group not in mine]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept
