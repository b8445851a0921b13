"""The Weights & Biases tracker (`--lmgate-track wandb`, `pip install "lmgate[wandb]"`): one W&B
run per pytest session in the project `lmgate_wandb_project` (default "lmgate"; entity
`lmgate_wandb_entity` or W&B's default). `WANDB_MODE=offline` writes the run under
`lmgate_wandb_dir` (or `WANDB_DIR`, else the rootdir) for a later `wandb sync`; online it needs
`WANDB_API_KEY` (W&B's own variable: lmgate never reads or writes the key).

What it logs: the run facts as the run's config; every metric of every result, with its CI
bounds, and its cost where it recorded one (`cost.input_tokens`, `cost.output_tokens`,
`cost.seconds`, `cost.cost_usd`), in the run summary keyed `<test>/<result>/<metric>` (W&B
groups panels by the part before the first "/"); a `claims` table (test, verdict,
comparisons) and each claim's differences as `claim/<test>/<metric>/diff`; the baseline
verdict (`lmgate.baseline`); every plot as an image; the results folder (predictions,
results.csv, summary.md, report.html) as an artifact of type `lmgate-results`. Exit code 0
when the session passed, else 1; the status (passed/failed/interrupted) is a tag.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from lmgate.core.errors import ConfigError
from lmgate.core.extras import require
from lmgate.report.tracking import RunRecord


def summary_key(*parts: str) -> str:
    """`<test>/<result>/<metric>` with the node id's "::" as "/"."""
    return "/".join(p.replace("::", "/") for p in parts)


class WandbTracker:
    name = "wandb"

    def __init__(self, options: Callable[[str], str | None]) -> None:
        self.project = options("lmgate_wandb_project") or "lmgate"
        self.entity = options("lmgate_wandb_entity")
        self.dir = options("lmgate_wandb_dir") or os.environ.get("WANDB_DIR")
        self.run: Any = None

    def start(self, facts: Mapping[str, Any]) -> None:
        wandb = require("wandb")
        mode = os.environ.get("WANDB_MODE", "online")
        if mode not in ("offline", "disabled", "dryrun") and not os.environ.get("WANDB_API_KEY"):
            raise ConfigError("--lmgate-track wandb: set WANDB_API_KEY (or WANDB_MODE=offline "
                              "to write the run locally and `wandb sync` it later)")
        if self.dir:
            os.makedirs(self.dir, exist_ok=True)
        try:
            self.run = wandb.init(
                project=self.project, entity=self.entity, dir=self.dir,
                name=f"lmgate {facts.get('profile')}", job_type="lmgate",
                config={k: v for k, v in facts.items() if v is not None},
                tags=["lmgate", str(facts.get("profile"))], reinit="create_new",
                settings=wandb.Settings(silent=True, console="off", x_disable_stats=True,
                                        init_timeout=60))
        except Exception as exc:   # no server, bad credentials, an unwritable folder
            raise ConfigError(f"Weights & Biases cannot start a run ({mode} mode): "
                              f"{type(exc).__name__}: {exc}") from None

    def log(self, record: RunRecord) -> str:
        import wandb

        run = self.run
        run.config.update({k: v for k, v in record.facts.items() if v is not None},
                          allow_val_change=True)
        summary: dict[str, Any] = {summary_key(*key): value
                                   for key, value in record.metrics().items()}
        claims = wandb.Table(columns=["test", "verdict", "comparisons"])
        for claim in record.claim_verdicts():
            claims.add_data(claim.nodeid, claim.verdict, claim.comparisons)
            for metric, diff in claim.differences.items():
                summary[summary_key("claim", claim.nodeid, metric, "diff")] = diff
        summary["lmgate.status"] = record.status
        if record.gate is not None:
            summary["lmgate.baseline"] = record.gate
        files = record.artifacts()
        plots = {summary_key("plots", p.relative_to(record.folder / "plots").as_posix()):
                 wandb.Image(str(p)) for p in files
                 if p.suffix == ".png" and p.is_relative_to(record.folder / "plots")}
        run.log({"claims": claims, **plots})
        run.summary.update(summary)
        run.tags = (*run.tags, record.status)
        if files:   # the folder is this run's published set
            artifact = wandb.Artifact(f"lmgate-results-{run.id}", type="lmgate-results")
            for path in files:
                artifact.add_file(str(path), name=path.relative_to(record.folder).as_posix())
            run.log_artifact(artifact)
        where = run.url or os.path.dirname(run.dir)   # offline: the run's own folder
        run.finish(exit_code=0 if record.status == "passed" else 1)
        return f"W&B project {self.project!r}, run {run.id} ({where})"
