"""The lmgate pytest plugin: options, derived markers, selection, skips, records and exports.

Only hooks and fixtures live here; the work is done by modules that know nothing of pytest.
State hangs off `config.stash`. Records travel from xdist workers to the controller on the
teardown report (`report.lmgate`), so the controller alone writes the results, once.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from lmgate.errors import ConfigError, Unavailable
from lmgate.settings import DATA_DIR_ENV, Settings, default_cache_dir, get_profile, split_csv

SETTINGS = pytest.StashKey[Settings]()
GATE = pytest.StashKey["GateOptions"]()
COLLECTED = pytest.StashKey["Collector"]()
if TYPE_CHECKING:  # records pull in numpy and scikit-learn: loaded when a test records
    from lmgate.report.records import Recorder

RECORDER = pytest.StashKey["Recorder"]()

LANG_PARAMS = ("lang", "language", "languages", "train_lang", "source_lang")
MODEL_PARAMS = ("model", "model_name", "encoder", "llm")
TASK_PARAMS = ("task",)
TASK_PREFIX = "test_"

OPTIONS = (
    # (flag, ini key, default, help)
    ("--profile", "lmgate_profile", "smoke", "experiment profile: smoke (CPU, minutes) or paper "
     "(the studies' hyper-parameters, GPU)"),
    ("--device", "lmgate_device", "auto", "auto | cpu | cuda | cuda:N"),
    ("--results-dir", "lmgate_results_dir", "lmgate-results",
     "where results.jsonl, results.csv, summary.md and plots are written"),
    ("--lang", "lmgate_lang", "", "comma list of languages: deselect cases of other languages"),
    ("--model", "lmgate_model", "", "comma list of model names: deselect cases of other models"),
    ("--lmgate-seed", "lmgate_seed", "0", "base random seed of sampling, splits and training"),
    ("--lmgate-cache-dir", "lmgate_cache_dir", "",
     "run cache folder (default $LMGATE_CACHE_DIR or ~/.cache/lmgate)"),
    ("--lmgate-data-dir", "lmgate_data_dir", "",
     "folder of local data sets (sets $LMGATE_DATA_DIR for the session)"),
    ("--lmgate-repeats", "lmgate_repeats", "1",
     "run each experiment with K seeds (seed, seed+1, ...), aggregated in reports and baselines"),
    ("--baseline", "lmgate_baseline", "",
     "baseline JSON to compare every recorded metric with; a regression beyond noise fails"),
    ("--tolerance", "lmgate_tolerance", "",
     "fixed absolute tolerance for baseline checks (default: derived from each metric's noise)"),
    ("--gate-alpha", "lmgate_gate_alpha", "0.01",
     "false-alarm probability of a whole baseline check (Bonferroni over metrics)"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lmgate", "lmgate: NLP experiments as tests")
    for flag, ini, default, help_text in OPTIONS:
        group.addoption(flag, dest=ini, default=None, help=f"{help_text} (ini: {ini}; "
                        f"default: {default or 'unset'})")
        parser.addini(ini, help_text, default=default)
    group.addoption("--update-baseline", dest="lmgate_update_baseline", action="store_true",
                    help="write (or refresh) the --baseline file from this run instead of checking")
    group.addoption("--strict-missing", dest="lmgate_strict_missing", action="store_true",
                    help="fail when a baseline metric is missing from this run")
    group.addoption("--no-cache", dest="lmgate_no_cache", action="store_true",
                    help="neither read nor write lmgate's run cache (pytest's --cache-clear "
                         "also empties it before the run)")


def _option(config: pytest.Config, ini: str) -> str:
    value = config.getoption(ini)
    return str(value if value is not None else config.getini(ini))


def pytest_configure(config: pytest.Config) -> None:
    for name, text in (("slow", "long-running experiment; deselect with -m 'not slow'"),
                       ("gpu", "needs CUDA; skipped with a reason when none is present")):
        config.addinivalue_line("markers", f"{name}: {text}")
    try:
        seed = int(_option(config, "lmgate_seed"))
        profile = get_profile(_option(config, "lmgate_profile"))
        config.stash[GATE] = _gate_options(config)
    except (ValueError, ConfigError) as exc:
        raise pytest.UsageError(f"lmgate: {exc}") from None
    device = _option(config, "lmgate_device").strip().lower()
    if device not in ("auto", "cpu") and not re.fullmatch(r"cuda(:\d+)?", device):
        raise pytest.UsageError(f"lmgate: unknown --device {device!r}; use auto, cpu, cuda or cuda:N")
    data_dir = _option(config, "lmgate_data_dir")
    if data_dir:
        # Loaders read the environment, so library code outside pytest behaves the same.
        os.environ[DATA_DIR_ENV] = str(config.invocation_params.dir / data_dir)
    cache_dir = _option(config, "lmgate_cache_dir")
    results_dir = Path(_option(config, "lmgate_results_dir"))
    settings = Settings(
        profile=profile, device=device, seed=seed,
        results_dir=results_dir if results_dir.is_absolute() else config.invocation_params.dir / results_dir,
        langs=split_csv(_option(config, "lmgate_lang")),
        models=split_csv(_option(config, "lmgate_model")),
        cache_dir=Path(cache_dir) if cache_dir else default_cache_dir(),
        use_cache=not config.getoption("lmgate_no_cache"),
    )
    if config.getoption("cacheclear", False) and settings.cache_dir.exists() and not _is_worker(config):
        shutil.rmtree(settings.cache_dir / "runs", ignore_errors=True)
    config.stash[SETTINGS] = settings
    if not _is_worker(config):
        config.stash[COLLECTED] = collector = Collector()
        config.pluginmanager.register(collector, "lmgate-collector")
    _register_project_models(config)


@dataclass(frozen=True)
class GateOptions:
    repeats: int = 1
    baseline: Path | None = None
    update: bool = False
    tolerance: float | None = None
    alpha: float = 0.01
    strict_missing: bool = False


def _gate_options(config: pytest.Config) -> GateOptions:
    repeats = int(_option(config, "lmgate_repeats"))
    if repeats < 1:
        raise ConfigError(f"--lmgate-repeats must be >= 1, got {repeats}")
    baseline = _option(config, "lmgate_baseline")
    path = (config.invocation_params.dir / baseline) if baseline else None
    update = bool(config.getoption("lmgate_update_baseline"))
    if update and path is None:
        raise ConfigError("--update-baseline needs --baseline FILE to know where to write")
    if path is not None and not update and not path.exists():
        raise ConfigError(f"baseline {path} does not exist; create it with --update-baseline")
    tolerance = _option(config, "lmgate_tolerance")
    alpha = float(_option(config, "lmgate_gate_alpha"))
    if not 0 < alpha < 1:
        raise ConfigError(f"--gate-alpha must be in (0, 1), got {alpha}")
    return GateOptions(repeats, path, update, float(tolerance) if tolerance else None, alpha,
                       bool(config.getoption("lmgate_strict_missing")))


def study_knobs(config: pytest.Config, study: str):
    """The active profile's knobs of `study`, e.g. to parametrise tests in pytest_generate_tests."""
    return config.stash[SETTINGS].profile.study(study)


def _register_project_models(config: pytest.Config) -> None:
    pyproject = config.rootpath / "pyproject.toml"
    if pyproject.exists():
        from lmgate.models.registry import register_from_pyproject

        try:
            register_from_pyproject(pyproject)
        except ConfigError as exc:
            raise pytest.UsageError(f"lmgate: {exc}") from None


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def marker_value(value: Any) -> str:
    """A parameter value as a marker-name fragment: 'tiny-encoder' -> 'tiny_encoder'."""
    return re.sub(r"\W+", "_", str(value)).strip("_").lower()


def _params(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params) if callspec else {}


def _values(item: pytest.Item, keys: tuple[str, ...]) -> tuple[str, ...]:
    """Values of the item's params named in `keys`; a list/tuple value counts element-wise."""
    out: list[str] = []
    for key, value in _params(item).items():
        if key in keys:
            out.extend(map(str, value) if isinstance(value, (list, tuple)) else [str(value)])
    return tuple(out)


def derived_markers(item: pytest.Item) -> list[str]:
    """task_<module>, task_<task>, lang_<code> and model_<name> markers from the test's
    location and params."""
    names = []
    module = Path(str(item.fspath)).stem
    if module.startswith(TASK_PREFIX):
        names.append("task_" + marker_value(module[len(TASK_PREFIX):]))
    names += ["task_" + marker_value(v) for v in _values(item, TASK_PARAMS)]
    names += ["lang_" + marker_value(v) for v in _values(item, LANG_PARAMS)]
    names += ["model_" + marker_value(v) for v in _values(item, MODEL_PARAMS)]
    return names


def _keeps(values: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    return not wanted or not values or any(marker_value(v) in {marker_value(w) for w in wanted}
                                           for v in values)


REPEAT_ID = re.compile(r"-seed\d+(?=\])|\[seed\d+\]")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    repeats = metafunc.config.stash[GATE].repeats
    if repeats > 1 and "lmgate_repeat" in metafunc.fixturenames:
        base = metafunc.config.stash[SETTINGS].seed
        metafunc.parametrize("lmgate_repeat", range(repeats),
                             ids=[f"seed{base + i}" for i in range(repeats)])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add derived markers (before -m is evaluated) and apply --lang/--model deselection."""
    settings = config.stash[SETTINGS]
    registered: set[str] = set()
    kept, deselected = [], []
    for item in items:
        for name in derived_markers(item):
            if name not in registered:
                config.addinivalue_line("markers", f"{name}: derived by lmgate")
                registered.add(name)
            item.add_marker(name)
        if (_keeps(_values(item, LANG_PARAMS), settings.langs)
                and _keeps(_values(item, MODEL_PARAMS), settings.models)):
            kept.append(item)
        else:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is not None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("marked gpu, and CUDA is not available on this machine")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(Unavailable):
        # A missing resource (data, weights) is a skip with the library's explanation.
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0,
                           f"Skipped: {call.excinfo.value}")
    if call.when == "teardown" and RECORDER in item.stash:
        recorder = item.stash[RECORDER]
        report.lmgate = {"rows": recorder.rows, "predictions": recorder.predictions,
                         "sections": recorder.sections}
    return report


class Collector:
    """Gathers the rows and predictions that reports carry (from this process or xdist workers)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.predictions: list[dict] = []
        self.sections: list[dict] = []
        self.written: list[Path] = []
        self.gate = None
        self.baseline_written: list[Path] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, "lmgate", None)
        if payload:
            self.rows.extend(payload["rows"])
            self.predictions.extend(payload["predictions"])
            self.sections.extend(payload["sections"])


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _is_worker(config) or COLLECTED not in config.stash:
        return
    collected = config.stash[COLLECTED]
    gate = config.stash[GATE]
    sections = []
    if gate.baseline is not None and not gate.update:
        collected.gate = _check_baseline(collected, gate)
        from lmgate.gate import markdown

        sections.append(("Compared with baseline", markdown(collected.gate)))
        if not collected.gate.passed:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not collected.rows and not sections:
        return
    from lmgate.report.plots import all_plots
    from lmgate.report.writers import merge_sections, write_results

    out = config.stash[SETTINGS].results_dir
    plots = all_plots(collected.rows, out)
    collected.written = write_results(collected.rows, collected.predictions, out, plots,
                                      sections + merge_sections(collected.sections)) + plots
    if gate.update:
        from lmgate.gate import write_baseline

        collected.baseline_written = write_baseline(gate.baseline, collected.rows,
                                                    collected.predictions, _environment(config))


def _check_baseline(collected: "Collector", gate: GateOptions):
    from lmgate.gate import compare, measurements, read_baseline

    old, old_examples = read_baseline(gate.baseline)
    new, new_examples = measurements(collected.rows, collected.predictions)
    return compare(old, new, old_examples, new_examples, tolerance=gate.tolerance,
                   alpha=gate.alpha, strict_missing=gate.strict_missing)


def _environment(config: pytest.Config) -> dict[str, Any]:
    import platform

    from lmgate.cache import library_versions

    settings = config.stash[SETTINGS]
    return {"profile": settings.profile.name, "seed": settings.seed,
            "repeats": config.stash[GATE].repeats, "python": platform.python_version(),
            **library_versions()}


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    collected = config.stash.get(COLLECTED, None)
    if collected is None:
        return
    if collected.rows:
        from lmgate.report.writers import key_table

        table = key_table(collected.rows)
        terminalreporter.section("lmgate results")
        limit = 40
        terminalreporter.write_line(table.head(limit).to_string(index=False, float_format="%.4f",
                                                            na_rep=""))
        if len(table) > limit:
            terminalreporter.write_line(f"... {len(table) - limit} more rows")
        if collected.written:
            terminalreporter.write_line(f"written to {Path(collected.written[0]).parent}")
    if collected.baseline_written:
        terminalreporter.write_line(f"lmgate: baseline written to {collected.baseline_written[0]}")
    if collected.gate is not None:
        from lmgate.gate import failure_message

        terminalreporter.section("lmgate baseline check")
        counts = ", ".join(f"{n} {s}" for s, n in sorted(collected.gate.counts().items()))
        terminalreporter.write_line(f"{len(collected.gate.checks)} metric(s) compared: {counts}")
        if collected.gate.passed:
            terminalreporter.write_line("no regression beyond noise", green=True)
        else:
            terminalreporter.write_line(failure_message(collected.gate), red=True)


@pytest.fixture(scope="session")
def lmgate_settings(pytestconfig: pytest.Config) -> Settings:
    """The session's resolved lmgate settings (profile, device, seed, cache...)."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture
def lmgate_repeat() -> int:
    """Index of this run among --lmgate-repeats K (0 without repeats)."""
    return 0


@pytest.fixture
def lmgate_seed(lmgate_settings: Settings, lmgate_repeat: int) -> int:
    """The seed of this test run: --lmgate-seed, plus the repeat index under --lmgate-repeats."""
    return lmgate_settings.seed + lmgate_repeat


@pytest.fixture
def record(request: pytest.FixtureRequest, lmgate_seed: int) -> Recorder:
    """Record `EvalResult`s and scalar metrics of this test for export and JUnit properties."""
    from lmgate.report.records import Recorder

    item = request.node

    def to_junit(row: dict) -> None:
        item.user_properties.extend((f"{row['result']}.{metric}", value)
                                    for metric, value in row["metrics"].items())

    params = {k: v for k, v in _params(item).items() if k != "lmgate_repeat"}
    recorder = Recorder(item.nodeid, getattr(item, "originalname", item.name),
                        {**params, "seed": lmgate_seed}, on_row=to_junit,
                        group=REPEAT_ID.sub("", item.nodeid))
    item.stash[RECORDER] = recorder
    return recorder
