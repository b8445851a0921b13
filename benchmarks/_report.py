"""Shared output of the benchmarks: a short table on stdout and a JSON file with the machine."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo (timings differ 2.3x between these machines)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    import torch

    from lmgate.core.device import cpu_has_native_bf16

    return {"cpu": cpu_model(), "cpu_native_bf16": cpu_has_native_bf16(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.cuda.get_device_name(0)
            if torch.cuda.is_available() else None}


def report(name: str, rows: list[dict], ratio: dict) -> None:
    cols = list(rows[0])
    print(" | ".join(f"{c:>14}" for c in cols))
    for row in rows:
        print(" | ".join(f"{row[c]:>14.4g}" if isinstance(row[c], float) else f"{str(row[c]):>14}"
                         for c in cols))
    for key, value in ratio.items():
        if key.startswith("speedup"):
            print(f"{key}: {value:.2f}x")
        else:
            print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    out = Path(__file__).parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, **ratio, "machine": machine()}, indent=1) + "\n")
