"""`--lmgate-plan`: print the pre-flight plan of the selected cases (lmgate.models.store.plan), run nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from lmgate.core.markup import terminal_text
from lmgate.plugin.options import SETTINGS, add_option
from lmgate.plugin.selection import item_params, study_of

if TYPE_CHECKING:
    from lmgate.models.store.plan import ModelNeed


def pytest_addoption(parser: pytest.Parser) -> None:
    add_option(
        parser, "lmgate_plan", action="store_true",
        help="list the models the selected cases need (source, size, GPU memory estimate) and "
             "run nothing")


def model_needs(session: pytest.Session) -> dict[str, "ModelNeed"]:
    """The models the selected cases use (by their parameters and their study's knobs), in
    the order of their first use."""
    from lmgate.models.store.plan import needs_from_cases

    settings = session.config.stash[SETTINGS]
    cases = []
    for item in session.items:
        study = study_of(item)
        knobs = dict(settings.profile.study(study)) if study in settings.profile.studies else {}
        cases.append((item_params(item), getattr(item, "fixturenames", ()), knobs))
    return needs_from_cases(cases)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    config = session.config
    if not config.getoption("lmgate_plan", False):
        return None
    from lmgate.models.store.plan import plan_rows, plan_text

    settings = config.stash[SETTINGS]
    device = settings.device if settings.device != "auto" else "cuda"
    text = plan_text(plan_rows(model_needs(session), settings.cache_dir, device), device,
                     len(session.items))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    reporter.section(terminal_text(f"lmgate plan: profile {settings.profile.name}"))
    reporter.write_line(terminal_text(text))
    return True
