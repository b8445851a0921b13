"""Trackers: where a run's results go besides the results folder (MLflow, Weights & Biases,
or a package's own), registered in the `lmgate.trackers` entry-point group::

    [project.entry-points."lmgate.trackers"]
    my-tracker = "my_package:MyTracker"

A tracker is made with the pytest config's ini values (`options`), `start`ed before any test
runs (a tracker that cannot reach its store fails the session there, not at the end), and
`log`ged once the results folder is published: it reads what lmgate wrote (`RunRecord`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from lmgate.core.errors import ConfigError
from lmgate.report.rows import ResultRow

GROUP = "lmgate.trackers"
#: What a result's cost is logged under, beside its metrics (`cost.input_tokens`, ...).
COST_PREFIX = "cost."


@dataclass(frozen=True)
class RunRecord:
    """One pytest session's published results, read back from its results folder."""

    folder: Path
    facts: Mapping[str, Any]          # profile, device, dtype, seed, versions, git commit, ...
    rows: list[ResultRow]             # results.jsonl
    claims: list[dict[str, Any]]      # claims.jsonl
    gate: str | None                  # "passed" / "failed" against a baseline, None unchecked
    status: str                       # "passed" / "failed" / "interrupted"

    @classmethod
    def read(cls, folder: Path, facts: Mapping[str, Any], gate: str | None,
             status: str) -> "RunRecord":
        def lines(name: str) -> list[dict[str, Any]]:
            path = folder / name
            if not path.is_file():
                return []
            return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                    if line.strip()]
        return cls(folder, dict(facts), [ResultRow.from_json(r) for r in lines("results.jsonl")],
                   lines("claims.jsonl"), gate, status)

    def metrics(self) -> dict[tuple[str, str, str], float]:
        """Every finite metric of every result, keyed (node id, result, metric), with its CI
        bounds as (node id, result, metric + "_ci_low"/"_ci_high") where lmgate computed one,
        and the cost it recorded as (node id, result, "cost." + key): `cost.input_tokens`,
        `cost.output_tokens`, `cost.seconds`, `cost.cost_usd` (`ResultRow.cost`)."""
        out: dict[tuple[str, str, str], float] = {}
        for row in self.rows:
            for key, value in row.cost().items():
                out[(row.nodeid, row.result, f"{COST_PREFIX}{key}")] = value
            for metric, value in row.metrics.items():
                if isinstance(value, (int, float)) and value == value:
                    out[(row.nodeid, row.result, metric)] = float(value)
                    ci = row.ci(metric)
                    if isinstance(ci, list) and len(ci) == 2:
                        low, high = map(float, ci)
                        out[(row.nodeid, row.result, metric + "_ci_low")] = low
                        out[(row.nodeid, row.result, metric + "_ci_high")] = high
        return out

    def claim_verdicts(self) -> list["ClaimVerdict"]:
        """Each claim's verdict, its comparisons in a line, and each comparison's difference."""
        out = []
        for claim in self.claims:
            comparisons = claim.get("comparisons", [])
            text = "; ".join(
                f"{c.get('a_name')} vs {c.get('b_name')} {c.get('metric')}: "
                f"{'held' if c.get('held') else 'not held'}, diff {c['diff']['point']:+.4f} "
                f"[{c['diff']['low']:+.4f}, {c['diff']['high']:+.4f}], p={c.get('p_value')}"
                for c in comparisons)
            verdict = claim.get("verdict") or ("held" if all(c.get("held") for c in comparisons)
                                               else "not held")
            out.append(ClaimVerdict(claim["nodeid"], verdict, text, {
                str(c.get("metric")): float(c["diff"]["point"]) for c in comparisons}))
        return out

    def artifacts(self) -> list[Path]:
        """The folder's files a tracker keeps: plots, predictions, tables and the report."""
        return sorted(p for p in self.folder.rglob("*") if p.is_file()
                      and not p.name.startswith("."))


@dataclass(frozen=True)
class ClaimVerdict:
    """A claim as trackers show it: "passed"/"failed"/..., a line per comparison, differences."""

    nodeid: str
    verdict: str
    comparisons: str
    differences: Mapping[str, float]


class Tracker(Protocol):
    name: str

    def start(self, facts: Mapping[str, Any]) -> None:
        """Reach the store and open a run; raise (ConfigError) if it cannot."""

    def log(self, record: RunRecord) -> str:
        """Log the run and close it; return where it can be seen (a URI, a folder)."""


def available() -> dict[str, Any]:
    """Tracker names from the entry-point group (lmgate's own and installed packages')."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def make_tracker(name: str, options: Callable[[str], str | None]) -> Tracker:
    """The tracker registered as `name`, made with `options(ini_key)`."""
    found = available()
    if name not in found:
        raise ConfigError(f"unknown tracker {name!r}; installed: {sorted(found) or 'none'} "
                          f"(a package adds one in the {GROUP!r} entry-point group)")
    return found[name].load()(options)
