"""pytest plugin for benchmarks/p9_bf16_features_study.py: every frozen base's head features
in LMGATE_BENCH_FEATURE_DTYPE (float32 or bfloat16), whatever the model's own opt-in says."""

from __future__ import annotations

import os

from lmgate.methods import heads

_DTYPE = os.environ.get("LMGATE_BENCH_FEATURE_DTYPE", "float32")
if _DTYPE not in ("float32", "bfloat16"):
    raise ValueError(f"LMGATE_BENCH_FEATURE_DTYPE must be float32 or bfloat16, not {_DTYPE!r}")
heads.head_feature_dtype = lambda device, cpu_bf16=False: _DTYPE
