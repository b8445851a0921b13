"""Derived markers, --lmgate-lang/--lmgate-model selection, profile-driven parametrisation and
skips.

Markers come from the test's location and parameters: `task_<module>` (test_<module>.py),
`task_<value>` of a `task` parameter, `lang_<code>` of language parameters and `model_<name>`
of model parameters. They are registered as they are derived, so --strict-markers stays clean.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from lmgate.core.errors import ConfigError, DataError, Unavailable
from lmgate.plugin.options import GATE, SETTINGS

LANG_PARAMS = ("lang", "language", "languages", "train_lang", "test_lang", "source_lang")
MODEL_PARAMS = ("model", "model_name", "encoder", "llm", "base")
TASK_PARAMS = ("task",)
TASK_PREFIX = "test_"


def marker_value(value: Any) -> str:
    """A parameter value as a marker-name fragment: 'tiny-encoder' -> 'tiny_encoder'."""
    return re.sub(r"\W+", "_", str(value)).strip("_").lower()


def item_params(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params) if callspec else {}


def _values(item: pytest.Item, keys: tuple[str, ...]) -> tuple[str, ...]:
    """Values of the item's params named in `keys`; a list/tuple value counts element-wise."""
    out: list[str] = []
    for key, value in item_params(item).items():
        if key in keys:
            out.extend(map(str, value) if isinstance(value, (list, tuple)) else [str(value)])
    return tuple(out)


def derived_markers(item: pytest.Item) -> list[str]:
    """task_<module>, task_<task>, lang_<code> and model_<name> markers of one test item."""
    names = []
    module = Path(str(item.fspath)).stem
    if module.startswith(TASK_PREFIX):
        names.append("task_" + marker_value(module[len(TASK_PREFIX):]))
    names += ["task_" + marker_value(v) for v in _values(item, TASK_PARAMS)]
    names += ["lang_" + marker_value(v) for v in _values(item, LANG_PARAMS)]
    names += ["model_" + marker_value(v) for v in _values(item, MODEL_PARAMS)]
    return names


def study_of(node: pytest.Item | pytest.Metafunc) -> str | None:
    """The study named by the closest `@pytest.mark.study(name)` (test, class or module)."""
    marker = (node.definition if isinstance(node, pytest.Metafunc) else node).get_closest_marker("study")
    if marker is None:
        return None
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise pytest.UsageError(f"lmgate: @pytest.mark.study takes one study name, got "
                                f"{marker.args!r}")
    return marker.args[0]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    for marker in metafunc.definition.iter_markers("knob_params"):
        study = study_of(metafunc)
        if study is None:
            raise pytest.UsageError(f"lmgate: {metafunc.definition.nodeid} uses knob_params "
                                    "without @pytest.mark.study(name)")
        knobs = config.stash[SETTINGS].profile.study(study)
        for argname, knob in marker.kwargs.items():
            if argname in metafunc.fixturenames:
                values = knobs[knob]
                metafunc.parametrize(argname, list(values) if isinstance(values, (list, tuple))
                                     else [values])
    repeats = config.stash[GATE].repeats
    if repeats > 1 and "lmgate_repeat" in metafunc.fixturenames:
        base = config.stash[SETTINGS].seed
        metafunc.parametrize("lmgate_repeat", range(repeats),
                             ids=[f"seed{base + i}" for i in range(repeats)])


def _keeps(values: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    return not wanted or not values or any(marker_value(v) in {marker_value(w) for w in wanted}
                                           for v in values)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add derived markers (before -m is evaluated) and apply --lmgate-lang/--lmgate-model
    deselection."""
    settings = config.stash[SETTINGS]
    registered: set[str] = set()
    kept, deselected = [], []
    seen: dict[str, set[str]] = {"lang": set(), "model": set()}
    for item in items:
        for name in derived_markers(item):
            if name not in registered:
                config.addinivalue_line("markers", f"{name}: derived by lmgate")
                registered.add(name)
            item.add_marker(name)
        langs, models = _values(item, LANG_PARAMS), _values(item, MODEL_PARAMS)
        seen["lang"].update(map(marker_value, langs))
        seen["model"].update(map(marker_value, models))
        if _keeps(langs, settings.langs) and _keeps(models, settings.models):
            kept.append(item)
        else:
            deselected.append(item)
    for flag, wanted, known in (("--lmgate-lang", settings.langs, seen["lang"]),
                                ("--lmgate-model", settings.models, seen["model"])):
        unknown = [w for w in wanted if marker_value(w) not in known]
        if unknown and known:
            raise pytest.UsageError(f"lmgate: {flag} {','.join(unknown)} matches no collected "
                                    f"case; the collected cases have: {', '.join(sorted(known))}")
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
    elif call.excinfo is not None and call.excinfo.errisinstance((ConfigError, DataError)):
        # Bad input: the message says what and how to fix it; the stack of library frames
        # below the test would only bury it. --tb=long still shows everything.
        if item.config.getoption("tbstyle", "auto") == "auto":
            entry = call.excinfo.traceback.cut(path=item.path)
            where = f"{item.path}:{entry[0].lineno + 1}" if entry else str(item.path)
            report.longrepr = (f"{where}: {call.excinfo.typename}: {call.excinfo.value}\n"
                               "(lmgate input error; --tb=long shows the full traceback)")
    return report


#: Each item's node id as collected: before `--dist loadgroup` appends its `@group` suffix.
PLAIN_ID = pytest.StashKey[str]()
#: Node ids as xdist's loadgroup changed them -> as collected, for the reports of this process
#: (a worker's own items; on the controller, what the workers' reports carried).
_PLAIN_IDS: dict[str, str] = {}


def pytest_itemcollected(item: pytest.Item) -> None:
    # Before pytest_collection_modifyitems, where xdist's loadgroup appends "@<groups>".
    item.stash[PLAIN_ID] = item.nodeid


def plain_id(item: pytest.Item) -> str:
    """The item's node id as collected, whatever the distribution mode: what results and
    baselines are keyed by."""
    plain = item.stash.get(PLAIN_ID, item.nodeid)
    if plain != item.nodeid:
        _PLAIN_IDS[item.nodeid] = plain
    return plain


@pytest.hookimpl(tryfirst=True)   # before lmgate's collector reads the report
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    plain = getattr(report, "lmgate_nodeid", None)   # set on the worker (recording)
    if isinstance(plain, str) and plain != report.nodeid:
        _PLAIN_IDS[report.nodeid] = plain


def strip_group(nodeid: str) -> str:
    """A reported node id without the `@group` suffix that `--dist loadgroup` appended to it
    (`plain_id`), so results and baselines match whatever the distribution mode. Only that
    suffix goes, known from the item itself: never part of a test's own id (`[xlmr@model-en]`)."""
    return _PLAIN_IDS.get(nodeid, nodeid)
