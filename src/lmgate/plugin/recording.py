"""The `record` fixture, and the transport of what a test recorded to the controller.

Records travel from xdist workers to the controller on the teardown report (`report.lmgate`);
`lmgate.plugin.collector` gathers them there.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterator

import pytest

from lmgate.plugin.selection import item_params, strip_group

if TYPE_CHECKING:  # records pull in numpy and scikit-learn: loaded when a test records
    from lmgate.report.records import Recorder

RECORDER = pytest.StashKey["Recorder"]()
#: What makes repeated runs of one experiment one group: the `-seedN` id --lmgate-repeats adds.
REPEAT_ID = re.compile(r"-seed\d+(?=\])|\[seed\d+\]")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    if call.when == "teardown" and RECORDER in item.stash:
        recorder = item.stash[RECORDER]
        report.lmgate = {"rows": recorder.rows, "predictions": recorder.predictions,
                         "sections": recorder.sections, "comparisons": recorder.comparisons,
                         "study": recorder.study}
    return report


@pytest.fixture
def record(request: pytest.FixtureRequest, lmgate_seed: int) -> Iterator["Recorder"]:
    """Record results and scalar metrics of this test: exported to --results-dir, JUnit, gate.

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

    def to_junit(row: dict) -> None:
        item.user_properties.extend((f"{row['result']}.{metric}", value)
                                    for metric, value in row["metrics"].items())

    params = {k: v for k, v in item_params(item).items() if k != "lmgate_repeat"}
    nodeid = strip_group(item.nodeid)
    recorder = Recorder(nodeid, getattr(item, "originalname", item.name),
                        {**params, "seed": lmgate_seed}, on_row=to_junit,
                        group=REPEAT_ID.sub("", nodeid))
    module = getattr(request, "module", None)
    recorder.study = {"module": item.path.name, "doc": (getattr(module, "__doc__", "") or "")}
    marker = item.get_closest_marker("lmgate_gate")
    if marker is not None:
        from lmgate.gate.settings import gate_settings

        recorder.gate = gate_settings(marker.kwargs)
    item.stash[RECORDER] = recorder
    with comparisons_to(recorder.comparisons.append):
        yield recorder
