"""Options and ini keys of the lmgate group, parsed once into `Settings` and `GateOptions`.

Every bad value is a usage error naming the option, raised in `pytest_configure`, before any
test runs. Environment variables the session sets are restored at unconfigure.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lmgate.core.device import check_device
from lmgate.core.errors import ConfigError
from lmgate.core.numbers import parse_decimal
from lmgate.core.profiles import get_profile, load_profiles
from lmgate.core.config import DATA_DIR_ENV, EMBEDDED_DATA_ENV, default_cache_dir, split_csv
from lmgate.plugin.session import Settings

SETTINGS = pytest.StashKey[Settings]()
GATE = pytest.StashKey["GateOptions"]()
PROFILES = pytest.StashKey[dict]()
SAVED_ENV = pytest.StashKey[dict]()
BUDGET = pytest.StashKey[Any]()       # the SESSION_BUDGET token to reset at unconfigure
#: What `--lmgate-keep-freed-memory` did to the allocator, once a model was to run on the CPU.
MEMORY = pytest.StashKey[str]()

def flag(dest: str) -> str:
    """The command-line flag of an lmgate option: its ini key (or dest) `lmgate_x_y` dashed,
    `--lmgate-x-y`. Every option lmgate registers is named so: the plugin loads in every pytest
    run of an environment that installs lmgate, and another plugin or a project's conftest.py
    may well define `--device`, `--model` or `--profile` itself."""
    if not dest.startswith("lmgate_"):
        raise ValueError(f"lmgate option dests start with 'lmgate_', got {dest!r}")
    return "--" + dest.replace("_", "-")


def add_option(parser: pytest.Parser, dest: str, **kwargs) -> None:
    """Register `flag(dest)` in the lmgate option group (the one way lmgate adds an option)."""
    parser.getgroup("lmgate", "lmgate: NLP experiments as tests").addoption(
        flag(dest), dest=dest, **kwargs)


OPTIONS = (
    # (ini key and dest, default, help); the flag is `flag(ini)`
    ("lmgate_profile", "smoke", "experiment profile: smoke (CPU, minutes), paper "
     "(GPU) or one your pyproject.toml declares under [tool.lmgate.profiles]"),
    ("lmgate_device", "auto", "auto | cpu | cuda | cuda:N"),
    ("lmgate_results_dir", "lmgate-results",
     "where results.jsonl, results.csv, summary.md and plots are written"),
    ("lmgate_lang", "", "comma list of languages: deselect cases of other languages"),
    ("lmgate_model", "", "comma list of model names: deselect cases of other models"),
    ("lmgate_seed", "0", "base random seed of sampling, splits and training"),
    ("lmgate_cache_dir", "",
     "run cache folder (default $LMGATE_CACHE_DIR or ~/.cache/lmgate)"),
    ("lmgate_data_dir", "",
     "folder of local data sets (sets $LMGATE_DATA_DIR for the session)"),
    ("lmgate_embedded_data_dir", "",
     "folder of the project's small data samples, used when neither --lmgate-data-dir nor the "
     "hub has the data (relative to the rootdir)"),
    ("lmgate_plots", "on",
     "write the results' plots (PNG, in summary.md and report.html): on | off (off saves the "
     "plotting, for CI jobs that read only the gate and the tables)"),
    ("lmgate_keep_freed_memory", "off",
     "on: once a model is to run on the CPU, glibc's malloc keeps the memory the process frees "
     "for its own reuse instead of returning it to the system: a process-wide change, for the "
     "rest of the pytest process (large-vocabulary decoding and training spared their page "
     "faults, at the cost of a larger peak memory): on | off"),
    ("lmgate_repeats", "1",
     "run each experiment with K seeds (seed, seed+1, ...), aggregated in reports and baselines"),
    ("lmgate_baseline", "",
     "baseline JSON to compare every recorded metric with; a regression beyond noise fails"),
    ("lmgate_tolerance", "",
     "fixed absolute tolerance for baseline checks (default: derived from each metric's noise)"),
    ("lmgate_gate_alpha", "0.01",
     "false-alarm probability of a whole baseline check (Holm over metrics)"),
    ("lmgate_budget", "",
     "what each sequential claim may spend on scoring before it stops as inconclusive "
     "(what was scored stays cached): tokens=N, seconds=S (model seconds) and/or usd=X "
     "(for models with a declared price), comma-separated"),
    ("lmgate_gate_mde", "",
     "warn when a gated metric cannot detect a drop of this size with 80 percent power (names the "
     "metrics and how many more examples they need)"),
)
SWITCHES = (
    # (dest, help): store_true flags, no ini key
    ("lmgate_update_baseline",
     "write (or refresh) the --lmgate-baseline file from this run instead of checking"),
    ("lmgate_force", "with --lmgate-update-baseline: write the baseline even from a run whose "
     "tests failed"),
    ("lmgate_prune_baseline", "with --lmgate-update-baseline: keep only what this run measured "
     "(by default entries of tests that did not run are kept, stale ones dropped)"),
    ("lmgate_strict_power", "with --lmgate-gate-mde: fail (not warn) when the gate is too blind"),
    ("lmgate_strict_missing", "fail when a baseline metric is missing from this run"),
    ("lmgate_no_cache", "neither read nor write lmgate's run cache (pytest's --cache-clear also "
     "empties it before the run)"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    for ini, default, help_text in OPTIONS:
        add_option(parser, ini, default=None,
                   help=f"{help_text} (ini: {ini}; default: {default or 'unset'})")
        parser.addini(ini, help_text, default=default)
    for dest, help_text in SWITCHES:
        add_option(parser, dest, action="store_true", help=help_text)


def option(config: pytest.Config, ini: str) -> str:
    value = config.getoption(ini)
    return str(value if value is not None else config.getini(ini))


def _number(config: pytest.Config, ini: str, flag: str, kind: type = float):
    return parse_number(option(config, ini), flag, kind)


def parse_number(text: str, flag: str, kind: type = float):
    """`text` as a finite float (or an int); ConfigError naming `flag` otherwise."""
    text = text.strip()
    shown = text if len(text) <= 40 else text[:40] + "..."
    try:   # ASCII decimal only: int() and float() would read ١٢ and 1_000
        value = parse_decimal(text, kind)
    except ValueError:
        raise ConfigError(f"{flag} must be {'an integer' if kind is int else 'a number'}, "
                          f"got {shown!r}") from None
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{flag} must be a finite number, got {shown!r}")
    return value


#: numpy and torch take unsigned 32-bit seeds: every seed of a run, seed .. seed+repeats-1,
#: must be one.
SEED_LIMIT = 2**32
MAX_REPEATS = 1000


def _seed(config: pytest.Config) -> int:
    return parse_seed(option(config, "lmgate_seed"))


def parse_seed(text: str) -> int:
    """`--lmgate-seed`: an integer numpy and torch accept; ConfigError otherwise."""
    seed = parse_number(text, "--lmgate-seed", int)
    if not 0 <= seed < SEED_LIMIT:
        raise ConfigError(f"--lmgate-seed must be in [0, {SEED_LIMIT - 1}], got {seed}")
    return seed


def _switch(config: pytest.Config, ini: str, flag: str) -> bool:
    text = option(config, ini).strip().lower()
    if text not in ("on", "off"):
        raise ConfigError(f"{flag} must be on or off, got {text!r}")
    return text == "on"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@dataclass(frozen=True)
class GateOptions:
    repeats: int = 1
    baseline: Path | None = None
    update: bool = False
    tolerance: float | None = None
    alpha: float = 0.01
    strict_missing: bool = False
    force: bool = False
    mde: float | None = None
    strict_power: bool = False
    prune: bool = False


def gate_options(config: pytest.Config) -> GateOptions:
    repeats = _number(config, "lmgate_repeats", "--lmgate-repeats", int)
    if not 1 <= repeats <= MAX_REPEATS:
        raise ConfigError(f"--lmgate-repeats must be in [1, {MAX_REPEATS}], got {repeats}")
    if _seed(config) + repeats > SEED_LIMIT:
        raise ConfigError(f"--lmgate-seed {_seed(config)} with --lmgate-repeats {repeats} runs "
                          f"seeds past {SEED_LIMIT - 1}, the largest numpy and torch take")
    baseline = option(config, "lmgate_baseline")
    path = (config.invocation_params.dir / baseline) if baseline else None
    update = bool(config.getoption("lmgate_update_baseline"))
    if update and path is None:
        raise ConfigError("--lmgate-update-baseline needs --lmgate-baseline FILE to know where "
                          "to write")
    if path is not None and not update and not path.exists():
        raise ConfigError(f"baseline {path} does not exist; create it with "
                          "--lmgate-update-baseline")
    if path is not None and update:
        baseline_lock(path)
    if path is not None and config.inipath is None and \
            config.getoption("rootdir", None) is None and \
            config.rootpath != config.invocation_params.dir:
        # Keys are node ids relative to the rootdir, which pytest picks from the arguments'
        # paths when no configuration file anchors it (`--lmgate-baseline FILE` as two tokens
        # counts): this run would key its tests differently from a run without them.
        raise ConfigError(f"baselines are keyed by test ids relative to pytest's rootdir, here "
                          f"{config.rootpath}, which pytest chose from the command line's paths "
                          f"(not {config.invocation_params.dir}) because no pytest configuration "
                          "file was found; add a [tool.pytest.ini_options] table to "
                          "pyproject.toml (or a pytest.ini), or pass --rootdir")
    tolerance = None
    if option(config, "lmgate_tolerance").strip():
        tolerance = _number(config, "lmgate_tolerance", "--lmgate-tolerance")
        if tolerance < 0:
            raise ConfigError(f"--lmgate-tolerance must be >= 0, got {tolerance}")
    alpha = _number(config, "lmgate_gate_alpha", "--lmgate-gate-alpha")
    if not 0 < alpha < 1:
        raise ConfigError(f"--lmgate-gate-alpha must be in (0, 1), got {alpha}")
    mde = None
    if option(config, "lmgate_gate_mde").strip():
        mde = _number(config, "lmgate_gate_mde", "--lmgate-gate-mde")
        if mde <= 0:
            raise ConfigError(f"--lmgate-gate-mde must be > 0, got {mde}")
    strict_power = bool(config.getoption("lmgate_strict_power"))
    if strict_power and mde is None:
        raise ConfigError("--lmgate-strict-power needs --lmgate-gate-mde X (the drop the gate "
                          "must detect)")
    force, prune = bool(config.getoption("lmgate_force")), bool(config.getoption(
        "lmgate_prune_baseline"))
    if (force or prune) and not update:
        raise ConfigError(f"{'--lmgate-force' if force else '--lmgate-prune-baseline'} only "
                          "applies to --lmgate-update-baseline")
    return GateOptions(repeats, path, update, tolerance, alpha,
                       bool(config.getoption("lmgate_strict_missing")), force, mde,
                       strict_power, prune)


def baseline_lock(baseline: Path) -> Path:
    """The lock file that concurrent baseline updates take turns on (`<baseline>.lock`);
    ConfigError naming it unless it is absent or a plain file: a symbolic link would have
    the lock create or truncate whatever it points to, a folder cannot be locked."""
    lock = baseline.with_name(baseline.name + ".lock")
    if lock.is_symlink():
        raise ConfigError(f"the baseline's lock file {lock} is a symbolic link (to "
                          f"{os.readlink(lock)}); remove it")
    if lock.exists() and not lock.is_file():
        raise ConfigError(f"the baseline's lock file {lock} is not a file; remove it")
    return lock


def _writable_folder(path: Path, what: str) -> Path:
    """`path` if it is (or can be made) a writable folder; ConfigError naming `what`. A
    dangling symbolic link on the way is an error too (creating the folder would fail)."""
    dangling = next((p for p in (path, *path.parents) if p.is_symlink() and not p.exists()), None)
    if dangling is not None:
        raise ConfigError(f"{what} {path}: {dangling} is a symbolic link to "
                          f"{os.readlink(dangling)}, which does not exist")
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"{what} {path}: {existing} is a file, not a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path}: {existing} is not writable")
    return path


def _results_dir(config: pytest.Config) -> Path:
    """The results folder, checked now: a run must not train for minutes and fail to write."""
    path = Path(option(config, "lmgate_results_dir"))
    return _writable_folder(path if path.is_absolute() else config.invocation_params.dir / path,
                            "--lmgate-results-dir")


def _device(config: pytest.Config) -> str:
    """--lmgate-device, checked now: `cuda` on a machine without one fails before any test (a
    pre-flight --lmgate-plan or --collect-only for a GPU machine is fine anywhere)."""
    device = check_device(option(config, "lmgate_device"), "--lmgate-device")
    planning = config.getoption("lmgate_plan", False) or config.getoption("collectonly", False)
    if device.startswith("cuda") and not planning:
        from lmgate.core.device import resolve_device

        resolve_device(device)
    return device


def _set_env(config: pytest.Config, name: str, value: str) -> None:
    """Set an environment variable for this session; pytest_unconfigure restores it."""
    config.stash[SAVED_ENV].setdefault(name, os.environ.get(name))
    os.environ[name] = value


def pytest_configure(config: pytest.Config) -> None:
    for name, text in (("slow", "long-running experiment; deselect with -m 'not slow'"),
                       ("gpu", "needs CUDA; skipped with a reason when none is present"),
                       ("study(name)", "the study whose profile knobs the `knobs` fixture reads"),
                       ("lmgate_gate(tolerance=None, ignore=())", "this test's gate settings: "
                        "a fixed tolerance (a number, or {metric: number}) and metrics not "
                        "gated"),
                       ("knob_params(argname=knob, ...)", "parametrise each argname over the "
                        "values of its study knob in the active profile")):
        config.addinivalue_line("markers", f"{name}: {text}")
    config.stash[SAVED_ENV] = {}
    try:
        profiles = load_profiles(config.rootpath / "pyproject.toml")
        settings = Settings(
            profile=get_profile(option(config, "lmgate_profile"), profiles),
            device=_device(config),
            seed=_seed(config),
            results_dir=_results_dir(config),
            langs=split_csv(option(config, "lmgate_lang")),
            models=split_csv(option(config, "lmgate_model")),
            cache_dir=_writable_folder(
                Path(option(config, "lmgate_cache_dir")) if option(config, "lmgate_cache_dir")
                else default_cache_dir(), "--lmgate-cache-dir (or LMGATE_CACHE_DIR)"),
            use_cache=not config.getoption("lmgate_no_cache"),
            plots=_switch(config, "lmgate_plots", "--lmgate-plots"),
            keep_freed_memory=_switch(config, "lmgate_keep_freed_memory",
                                      "--lmgate-keep-freed-memory"))
        config.stash[GATE] = gate_options(config)
        budget = _budget(config)
        _register_project_models(config)
    except ConfigError as exc:
        raise pytest.UsageError(f"lmgate: {exc}") from None
    config.stash[PROFILES] = profiles
    config.stash[SETTINGS] = settings
    if budget is not None:
        from lmgate.stats.sequential import SESSION_BUDGET

        config.stash[BUDGET] = SESSION_BUDGET.set(budget)
    data_dir = option(config, "lmgate_data_dir")
    if data_dir:
        # Loaders read the environment, so library code outside pytest behaves the same.
        _set_env(config, DATA_DIR_ENV, str(config.invocation_params.dir / data_dir))
    embedded = option(config, "lmgate_embedded_data_dir")
    if embedded:
        _set_env(config, EMBEDDED_DATA_ENV, str(config.rootpath / embedded))
    if config.getoption("cacheclear", False) and not is_worker(config):
        from lmgate.core.cache import RunCache

        RunCache(settings.cache_dir).clear()


def _register_project_models(config: pytest.Config) -> None:
    pyproject = config.rootpath / "pyproject.toml"
    if pyproject.exists():
        from lmgate.models.store.registry import register_from_pyproject

        register_from_pyproject(pyproject)


@pytest.hookimpl(trylast=True)
def _budget(config: pytest.Config) -> Any:
    """--lmgate-budget as a CostBudget (None when not given), checked before any test."""
    text = option(config, "lmgate_budget").strip()
    if not text:
        return None
    from lmgate.stats.sequential import CostBudget

    try:
        return CostBudget.parse(text)
    except ValueError as exc:
        raise ConfigError(f"--lmgate-budget {text!r}: {exc}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    if BUDGET in config.stash:
        from lmgate.stats.sequential import SESSION_BUDGET

        SESSION_BUDGET.reset(config.stash[BUDGET])
    serving = sys.modules.get("lmgate.models.serving.serve")   # imported only where a test served
    if serving is not None:
        serving.stop_all()
    for name, value in config.stash.get(SAVED_ENV, {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
