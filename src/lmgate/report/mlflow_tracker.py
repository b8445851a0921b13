"""The MLflow tracker (`--lmgate-track mlflow`, `pip install "lmgate[mlflow]"`): one MLflow
run per pytest session, in the experiment `lmgate_mlflow_experiment` (default "lmgate") of the
tracking URI `MLFLOW_TRACKING_URI` or `lmgate_mlflow_uri` (e.g. `sqlite:///mlflow.db`).

What it logs: the run facts as params (and the git commit as a tag); every metric of every
result, with its CI bounds where lmgate computed one, keyed `<test>/<result>/<metric>`, and
each result's cost where it recorded one (`<test>/<result>/cost.input_tokens`,
`cost.output_tokens`, `cost.seconds`, `cost.cost_usd`); each claim's verdict and comparison
as tags (`claim/<test>`) and its difference as metrics; the baseline verdict
(`lmgate.baseline`); the results folder (plots, predictions, results.csv, summary.md,
report.html) as artifacts. Run status: FINISHED when the session passed, else
FAILED (KILLED when interrupted).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from lmgate.core.errors import ConfigError
from lmgate.core.extras import require
from lmgate.core.redact import register_url
from lmgate.report.tracking import RunRecord

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_key(*parts: str) -> str:
    """An MLflow-safe key (letters, digits, _ - . space /) from node id, result and metric."""
    return "/".join(_UNSAFE.sub("_", p.replace("::", "/")) for p in parts)[:250]


class MlflowTracker:
    name = "mlflow"

    def __init__(self, options: Callable[[str], str | None]) -> None:
        import os

        self.uri = os.environ.get("MLFLOW_TRACKING_URI") or options("lmgate_mlflow_uri")
        self.experiment = options("lmgate_mlflow_experiment") or "lmgate"
        register_url(self.uri)   # its password is masked wherever the URI or MLflow's errors go
        if not self.uri:
            raise ConfigError("--lmgate-track mlflow needs a tracking URI: set "
                              "MLFLOW_TRACKING_URI or the ini key lmgate_mlflow_uri (e.g. "
                              "sqlite:///mlflow.db)")
        self.run_id: str | None = None

    def start(self, facts: Mapping[str, Any]) -> None:
        tracking = require("mlflow.tracking")
        try:
            self.client = tracking.MlflowClient(tracking_uri=self.uri)
            found = self.client.get_experiment_by_name(self.experiment)
            experiment = found.experiment_id if found else \
                self.client.create_experiment(self.experiment)
            run = self.client.create_run(experiment, run_name=f"lmgate {facts.get('profile')}",
                                         tags={"lmgate.profile": str(facts.get("profile"))})
        except Exception as exc:   # unreachable server, bad credentials, a broken store
            raise ConfigError(f"MLflow at {self.uri} cannot start a run: "
                              f"{type(exc).__name__}: {exc}") from None
        self.run_id = run.info.run_id

    def log(self, record: RunRecord) -> str:
        from mlflow.entities import Metric, Param, RunTag

        params = [Param(k, str(v)[:6000]) for k, v in record.facts.items()
                  if v is not None and k != "git commit"]
        tags = [RunTag("lmgate.status", record.status)]
        if record.facts.get("git commit"):
            tags.append(RunTag("mlflow.source.git.commit", str(record.facts["git commit"])))
        if record.gate is not None:
            tags.append(RunTag("lmgate.baseline", record.gate))
        metrics = {metric_key(*key): value for key, value in record.metrics().items()}
        for claim in record.claim_verdicts():
            tags.append(RunTag(metric_key("claim", claim.nodeid)[:250],
                               f"{claim.verdict}: {claim.comparisons}"[:5000]))
            for metric, diff in claim.differences.items():
                metrics[metric_key("claim", claim.nodeid, metric, "diff")] = diff
        batch = [Metric(k, v, 0, 0) for k, v in metrics.items()]
        for items, size, name in ((batch, 1000, "metrics"), (params, 100, "params"),
                                  (tags, 100, "tags")):   # MLflow's limits per batch
            for start in range(0, len(items), size):
                self.client.log_batch(self.run_id, **{name: items[start:start + size]})
        if record.rows:   # the folder is this run's published set
            self.client.log_artifacts(self.run_id, str(record.folder), "results")
        status = {"passed": "FINISHED", "interrupted": "KILLED"}.get(record.status, "FAILED")
        self.client.set_terminated(self.run_id, status=status)
        return f"{self.uri} (experiment {self.experiment!r}, run {self.run_id})"
