"""The baseline side of a session: read the baseline before any test runs, compare the run
with it at the end, or write it (`--lmgate-update-baseline`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lmgate.plugin.options import GATE, SETTINGS, GateOptions


def read_baseline_now(gate: GateOptions):
    """The baseline to compare with (None when not comparing): a corrupt baseline must stop
    the run now, not after an hour of training. With --lmgate-update-baseline, the file that will be
    merged into (or replaced) is checked now too."""
    if gate.baseline is None:
        return None
    from lmgate.core.errors import ConfigError
    from lmgate.gate.baseline import load_baseline

    if gate.update:
        _check_updatable(gate)
        return None
    try:   # read once, here: the comparison at the end uses this copy (a pipe reads once)
        return load_baseline(gate.baseline)
    except ConfigError as exc:
        raise pytest.UsageError(f"lmgate: {exc}") from None


def _check_updatable(gate: GateOptions) -> None:
    import os

    from lmgate.core.errors import ConfigError
    from lmgate.gate.baseline import read_baseline

    path = gate.baseline
    folder = next((p for p in path.parents if p.exists()), None)
    if (path.exists() and not os.access(path, os.W_OK)) or \
            (folder is not None and not os.access(folder, os.W_OK | os.X_OK)):
        raise pytest.UsageError(f"lmgate: --lmgate-update-baseline: {path} is not writable")
    if path.exists() and not path.is_file():
        raise pytest.UsageError(f"lmgate: --lmgate-update-baseline: {path} is not a regular "
                                "file (a folder, a pipe or a device); name a file")
    if path.exists() and not gate.prune:
        try:
            read_baseline(path)
        except ConfigError as exc:
            reason = str(exc).split("; rewrite")[0]
            raise pytest.UsageError(
                f"lmgate: --lmgate-update-baseline would merge this run into {path}, which cannot "
                f"be read ({reason}); it was left as it is: move it away, or add "
                "--lmgate-prune-baseline to replace it with this run's measurements") from None


def check_baseline(collector: Any, session: pytest.Session) -> list[tuple[str, str]]:
    """Compare the run with the baseline; a regression fails the session. Returns the verdict's
    section of summary.md (the caller publishes the results folder once, with it)."""
    from lmgate.gate.baseline import environment_changes
    from lmgate.gate.decide import compare
    from lmgate.gate.render import markdown
    from lmgate.gate.measure import measurements
    from lmgate.gate.settings import settings_by_result

    baseline = collector.baseline
    old, old_examples = baseline.entries, baseline.examples
    new, new_examples = measurements(collector.rows, collector.predictions)
    options = collector.gate_options
    collector.gate = compare(old, new, old_examples, new_examples, tolerance=options.tolerance,
                        alpha=options.alpha, strict_missing=options.strict_missing,
                        settings=settings_by_result(collector.rows),
                        passed_tests=collector.tests("passed"))

    collector.gate.environment_changes = environment_changes(
        baseline.environment, environment(collector.config))
    if options.mde is not None:
        from lmgate.gate.decide import power_warnings

        collector.gate.power_warnings = power_warnings(collector.gate, options.mde)
        collector.gate.strict_power = options.strict_power
    if not collector.gate.passed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return [("Compared with baseline", markdown(collector.gate))]


def update_baseline(collector: Any, session: pytest.Session) -> None:
    """Write the baseline from this run (refused when tests failed, unless --lmgate-force)."""
    from lmgate.core.errors import ConfigError
    from lmgate.gate.measure import measurements

    if session.testsfailed and not collector.gate_options.force:
        collector.baseline_refused = (f"{session.testsfailed} test(s) failed: the baseline "
                                 f"{collector.gate_options.baseline} was not updated (add "
                                 "--lmgate-force to write it anyway)")
        return
    from filelock import FileLock

    from lmgate.plugin.options import baseline_lock

    path = collector.gate_options.baseline
    found, examples = measurements(collector.rows, collector.predictions)
    try:   # checked at configure too; it may have changed during the run
        lock = FileLock(str(baseline_lock(path)))
        # Concurrent updates (two CI jobs) take turns; each merges into what the other wrote.
        lock.acquire()
    except (ConfigError, OSError) as exc:   # a folder, a symbolic link, no permission
        collector.baseline_refused = (f"the baseline {path} was not updated: its lock file "
                                      f"could not be taken ({exc})")
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        return
    try:
        _merge_and_write(collector, session, path, found, examples)
    finally:
        lock.release()


def _merge_and_write(collector: Any, session: pytest.Session, path: Path, found: dict,
                     examples: dict) -> None:
    """Under the lock: merge the baseline on disk (unless pruning) with this run's, write it."""
    from lmgate.core.errors import ConfigError
    from lmgate.gate.baseline import carried_over, read_baseline, write_baseline

    if not collector.gate_options.prune and path.exists():
        try:   # read again under the lock: another job may have written it meanwhile
            old, old_examples = read_baseline(path)
        except ConfigError as exc:
            collector.baseline_refused = (f"the baseline changed during the run and cannot "
                                          f"be merged into now ({exc}); it was not updated")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        kept, kept_examples = carried_over(old, old_examples, collector.tests())
        collector.baseline_pruned = sorted(set(old) - set(kept) - set(found))
        collector.baseline_kept = len(kept)
        found, examples = {**kept, **found}, {**kept_examples, **examples}
    try:
        collector.baseline_written = write_baseline(path, found, examples,
                                                    environment(collector.config))
    except OSError as exc:   # a full disk, a read-only folder: both files or neither
        from lmgate.core.io import TornWrite

        collector.baseline_refused = f"the baseline {path} could not be written ({exc})" + (
            "" if isinstance(exc, TornWrite) else
            "; it and its predictions are unchanged")
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def environment(config: pytest.Config) -> dict[str, Any]:
    """What a baseline stores about the run that produced it."""
    import platform

    from lmgate.core.cache import library_versions

    settings = config.stash[SETTINGS]
    return {"profile": settings.profile.name, "seed": settings.seed, "device": settings.device,
            "repeats": config.stash[GATE].repeats, "python": platform.python_version(),
            **library_versions()}


