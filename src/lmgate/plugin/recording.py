"""The `record` fixture, and the transport of what a test recorded to the controller.

Records travel from xdist workers to the controller on the teardown report (`report.lmgate`);
`lmgate.plugin.collector` gathers them there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

import pytest

from lmgate.plugin.options import SETTINGS
from lmgate.plugin.selection import item_params, plain_id

if TYPE_CHECKING:  # records pull in numpy and scikit-learn: loaded when a test records
    from lmgate.report.records import Recorder
    from lmgate.report.rows import ResultRow

RECORDER = pytest.StashKey["Recorder"]()


def repeat_group(nodeid: str, ids: Sequence[str], seed: int) -> str:
    """The node id shared by the repeats of one experiment: `nodeid` without the `seedN` id
    --lmgate-repeats added to its parameter `ids` (pytest's id parts, in order). Only that
    part goes: a test's own ids that merely contain `seed1` (`bert-seed1`) stay apart."""
    token = f"seed{seed}"
    if token not in ids or "[" not in nodeid:
        return nodeid
    rest = list(ids)
    rest.remove(token)
    head = nodeid[:nodeid.index("[")]
    return head + (f"[{'-'.join(rest)}]" if rest else "")


def junit_per_test(config: pytest.Config) -> bool:
    """Whether JUnit XML takes properties per test case (junit_family xunit1 or legacy);
    False without pytest's junitxml plugin (`-p no:junitxml`), which declares that ini key."""
    if not config.pluginmanager.has_plugin("junitxml"):
        return False
    try:
        return config.getini("junit_family") in ("xunit1", "legacy")
    except (KeyError, ValueError):   # the ini key is unknown: no JUnit XML is written
        return False


def item_group(item: pytest.Item) -> str:
    """`repeat_group` of a collected item (its node id without the seed id of a repeat)."""
    params = item_params(item)
    if "lmgate_repeat" not in params:
        return plain_id(item)
    seed = item.config.stash[SETTINGS].seed + int(params["lmgate_repeat"])
    callspec = item.callspec  # type: ignore[attr-defined]
    # pytest keeps the id parts as CallSpec2._idlist; joined with "-" they are callspec.id.
    ids = list(getattr(callspec, "_idlist", None) or callspec.id.split("-"))
    return repeat_group(plain_id(item), ids, seed)


#: Parameter names lmgate writes into every recorded row's params itself.
RESERVED_PARAMS = ("seed",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Before any test runs: a recording test's parameter that lmgate's own recorded params
    would overwrite (`seed`), and invalid `lmgate_gate` settings, are usage errors naming the
    tests (a parametrised `seed` would be recorded as lmgate's seed, the same for every case)."""
    clashes, bad_gates = [], []
    for item in items:
        if "lmgate_record" in getattr(item, "fixturenames", ()):   # `record` or itself
            taken = sorted(set(item_params(item)) & set(RESERVED_PARAMS))
            if taken:
                clashes.append(f"{item.nodeid} (parameter {', '.join(taken)})")
        marker = item.get_closest_marker("lmgate_gate")
        if marker is not None:
            from lmgate.gate.settings import gate_settings   # numpy: only where a test gates

            try:
                gate_settings(marker.kwargs)
            except ValueError as exc:
                bad_gates.append(f"{item.nodeid}: {exc}")
    if clashes:
        raise pytest.UsageError(
            "lmgate records each result's seed as params.seed (--lmgate-seed, --lmgate-repeats); "
            "these tests' own parameter of that name would be overwritten: "
            + "; ".join(clashes[:5]) + (f" and {len(clashes) - 5} more" if len(clashes) > 5
                                         else "")
            + ". Rename it (e.g. data_seed), or use --lmgate-repeats for seeds.")
    if bad_gates:
        raise pytest.UsageError("invalid @pytest.mark.lmgate_gate: " + "; ".join(bad_gates[:5]))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    # Both travel from xdist workers with the report: the id results use, its repeats' group.
    report.lmgate_nodeid = plain_id(item)
    report.lmgate_group = item_group(item)
    if call.when == "teardown" and RECORDER in item.stash:
        recorder = item.stash[RECORDER]
        # Plain JSON: an xdist worker sends the report through execnet.
        report.lmgate = {"rows": [row.to_json() for row in recorder.rows],
                         "predictions": recorder.predictions,
                         "sections": recorder.sections, "comparisons": recorder.comparisons,
                         "claimed": recorder.claimed, "composites": recorder.composite,
                         "study": recorder.study}
    return report


@pytest.fixture
def lmgate_record(request: pytest.FixtureRequest, lmgate_seed: int) -> Iterator["Recorder"]:
    """Record results and scalar metrics of this test: exported to --lmgate-results-dir, JUnit,
    gate.

    Example::

        def test_finetuned_beats_zero_shot(finetune, zero_shot, record):
            ...
            record(finetuned, prompted, mode_agreement=0.93)   # results and loose scalars
            record.section("My table", markdown_text)          # a block in summary.md

    Comparisons made by `assert_better` / `assert_not_worse` during the test are kept with
    the results they compared, and the test's verdict with every row.
    """
    from lmgate.report.records import Recorder
    from lmgate.stats.listeners import comparisons_to

    item = request.node

    def to_junit(row: "ResultRow") -> None:
        # Per-test properties are in the schema of xunit1 only; under xunit2 (pytest's
        # default) the controller writes them as test-suite properties (collector).
        if junit_per_test(item.config):
            from lmgate.core.markup import xml_text

            item.user_properties.extend((xml_text(f"{row.result}.{metric}"), value)
                                        for metric, value in row.metrics.items())

    params = {k: v for k, v in item_params(item).items() if k != "lmgate_repeat"}
    recorder = Recorder(plain_id(item), getattr(item, "originalname", item.name),
                        {**params, "seed": lmgate_seed}, on_row=to_junit,
                        group=item_group(item))
    module = getattr(request, "module", None)
    recorder.study = {"module": item.path.name, "doc": (getattr(module, "__doc__", "") or "")}
    marker = item.get_closest_marker("lmgate_gate")
    if marker is not None:
        from lmgate.gate.settings import gate_settings

        recorder.gate = gate_settings(marker.kwargs)
    item.stash[RECORDER] = recorder
    with comparisons_to(recorder.on_claim):
        yield recorder


@pytest.fixture
def record(lmgate_record: "Recorder") -> "Recorder":
    """`lmgate_record` under its short name; a `record` fixture in your conftest.py replaces it
    there (lmgate's fixtures use only `lmgate_*` names)."""
    return lmgate_record
