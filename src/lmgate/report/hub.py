"""A results folder as a Hugging Face dataset (`lmgate push DIR --repo OWNER/NAME`): three
configs, `results` (one row per recorded metric, with its CI, n, verdict and parameters),
`claims` (one row per comparison of a claim) and `predictions` (one row per test example of
each result), saved locally first and then pushed as private by default. The token comes only
from an environment variable (`HF_TOKEN` unless named otherwise) and is never printed or saved.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmgate.core.errors import ConfigError

REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
CONFIGS = ("results", "claims", "predictions")


def checked_repo(repo: str) -> str:
    if not REPO.fullmatch(repo or "") or ".." in repo:
        raise ConfigError(f"--repo must be a hub dataset id OWNER/NAME, not {repo!r}")
    return repo


def _cell(value: Any) -> Any:
    """Scalars as they are; anything else as JSON text (a column keeps one type)."""
    return value if value is None or isinstance(value, (str, int, float, bool)) else \
        json.dumps(value, sort_keys=True)


def tables(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The folder's rows for each config (lmgate's own reader: a malformed file is an error)."""
    from lmgate.report.writers import read_results

    rows, predictions, _, claims = read_results(folder)
    by_record = {r.record_id: r for r in rows}
    results = [{"test": r.nodeid, "result": r.result, "metric": metric,
                "value": value if isinstance(value, (int, float)) else None,
                "ci_low": (r.ci(metric) or [None, None])[0],
                "ci_high": (r.ci(metric) or [None, None])[1],
                "n": r.info.get("n"), "verdict": r.verdict,
                "params": json.dumps(dict(r.params), sort_keys=True)}
               for r in rows for metric, value in sorted(r.metrics.items())]
    compared = [{"test": c["nodeid"], "verdict": c.get("verdict"),
                 **{k: _cell(v) for k, v in comparison.items()}}
                for c in claims for comparison in c.get("comparisons", [])]
    examples = []
    for line in predictions:
        row = by_record.get(line.get("record_id"))
        columns = {k: v for k, v in line.items() if isinstance(v, list)}
        for i in range(max(map(len, columns.values()), default=0)):
            examples.append({"test": row.nodeid if row else None,
                             "result": row.result if row else None, "index": i,
                             **{k: _cell(v[i]) if i < len(v) else None
                                for k, v in columns.items()}})
    return {"results": results, "claims": compared, "predictions": examples}


@dataclass
class PushOutcome:
    saved: Path
    rows: dict[str, int]
    pushed: bool
    reason: str = ""


def hub_offline() -> str | None:
    """Why the hub cannot be used now, or None."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "the hub is offline here (HF_HUB_OFFLINE is set)"
    try:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            return "the hub is offline here (HF_HUB_OFFLINE was set when huggingface_hub loaded)"
    except ImportError:
        return "huggingface_hub is not installed"
    return None


def push(folder: Path, repo: str, *, save_to: Path, token_env: str = "HF_TOKEN",
         private: bool = True) -> PushOutcome:
    """Build the three configs from `folder`, save them under `save_to/<config>` (a file or
    folder already there is an error before any work), and push them to the dataset `repo`
    where the hub can be reached; otherwise say why not (the saved copy keeps everything)."""
    import pandas as pd
    from datasets import Dataset

    checked_repo(repo)
    offline = hub_offline()
    token = os.environ.get(token_env)
    if not offline and not token:
        raise ConfigError(f"set {token_env} to a hub token with write access (lmgate reads it "
                          "from the environment only), or save without pushing under "
                          "HF_HUB_OFFLINE=1")
    if save_to.exists():
        raise ConfigError(f"{save_to} already exists: choose another --save-to")
    data = tables(Path(folder))
    datasets = {name: Dataset.from_pandas(pd.DataFrame(rows), preserve_index=False)
                for name, rows in data.items()}
    for name, ds in datasets.items():
        ds.save_to_disk(str(save_to / name))
    counts = {name: len(rows) for name, rows in data.items()}
    if offline:
        return PushOutcome(save_to, counts, False, offline)
    try:
        for name, ds in datasets.items():
            if len(ds):
                ds.push_to_hub(repo, config_name=name, split="train", private=private,
                               token=token)
    except Exception as exc:   # unreachable hub, bad token, no write access
        message = str(exc).replace(token, "***") if token else str(exc)
        return PushOutcome(save_to, counts, False,
                           f"the push failed ({type(exc).__name__}: {message[:300]})")
    return PushOutcome(save_to, counts, True)
