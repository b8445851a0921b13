"""Shared output of the benchmarks: a short table on stdout and a JSON file with the machine."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def machine() -> dict:
    import torch

    return {"cpu_count": os.cpu_count(), "python": platform.python_version(),
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
