"""Fixtures every experiment uses, shipped to any project that installs lmgate.

`pytest --fixtures` lists them with these docstrings; each shows the call a test writes.
They bind the library (which knows nothing of pytest) to the session: profile defaults, seed,
device and the run cache.

Every fixture is named `lmgate_*`, and lmgate's fixtures depend only on such names. The short
names tests write (`device`, `run_cache`, `knobs`, `finetune`, `causal_lm`, `zero_shot`,
`frozen_head`, `frozen_span_head`, `lora`) are thin aliases at the end of this module: a fixture
of one of those names in a project's conftest.py (a function-scoped `device`, say) replaces the
alias for that project's tests and changes nothing in lmgate's own fixtures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import pytest

from lmgate.plugin.options import MEMORY, SETTINGS
from lmgate.plugin.selection import study_of
from lmgate.core.profiles import Knobs
from lmgate.plugin.session import Settings

if TYPE_CHECKING:  # the fixtures import torch-side modules only when a test uses them
    from lmgate.core.cache import RunCache
    from lmgate.core.config import LoraSettings
    from lmgate.data import DataSplits, LabeledData, Question
    from lmgate.methods.finetune import TrainedRun
    from lmgate.methods.heads import HeadRun
    from lmgate.methods.lora import LoraRun
    from lmgate.methods.span_head import SpanHeadRun
    from lmgate.methods.translation import TranslationPrompt
    from lmgate.methods.zero_shot import PromptTemplate, ZeroShotClassifier
    from lmgate.models.engines.language_model import CausalLM


@pytest.fixture(scope="session")
def lmgate_settings(pytestconfig: pytest.Config) -> Settings:
    """The session's resolved settings: `lmgate_settings.profile`, `.device`, `.seed`, ..."""
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
def lmgate_knobs(request: pytest.FixtureRequest, lmgate_settings: Settings) -> Knobs:
    """The active profile's knobs of this test's study (`@pytest.mark.study("name")`).

    Example::

        pytestmark = pytest.mark.study("reviews")

        def test_curve(knobs, finetune):
            for n in knobs.train_sizes: ...            # [tool.lmgate.profiles.smoke.studies.reviews]
            config = knobs.train_config("train")       # profile training defaults + overrides
    """
    study = study_of(request.node)
    if study is None:
        raise pytest.UsageError(f"lmgate: {request.node.nodeid} uses the knobs fixture without "
                                "@pytest.mark.study(name) on the test or module")
    return lmgate_settings.profile.study(study)


def study_knobs_fixture(study: str) -> Callable[..., Knobs]:
    """A session-scoped fixture of one study's knobs in the active profile, named by the module
    attribute it is assigned to: for session fixtures, which the function-scoped `knobs`
    (read from the test's `study` marker) cannot serve.

    Example (a conftest.py or a plugin module of fixtures)::

        reviews_knobs = study_knobs_fixture("reviews")

        @pytest.fixture(scope="session")
        def reviews_test(reviews_knobs, lmgate_settings):
            return load_test().balanced(reviews_knobs.test_per_class, seed=lmgate_settings.seed)
    """
    def study_knobs(lmgate_settings: Settings) -> Knobs:
        return lmgate_settings.profile.study(study)

    study_knobs.__doc__ = (f"The active profile's knobs of study {study!r} "
                           f"([tool.lmgate.profiles.<profile>.studies.{study}]), read once.")
    return pytest.fixture(scope="session")(study_knobs)


@pytest.fixture(scope="session")
def lmgate_run_cache(lmgate_settings: Settings) -> "RunCache":
    """lmgate's content-addressed cache of this session (disabled by --lmgate-no-cache)."""
    from lmgate.core.cache import RunCache

    return RunCache(lmgate_settings.cache_dir, enabled=lmgate_settings.use_cache)


@pytest.fixture(scope="session")
def lmgate_device(lmgate_settings: Settings, pytestconfig: pytest.Config) -> str:
    """The torch device of this session: --lmgate-device resolved ('cpu', 'cuda', 'cuda:1').
    On the CPU with `--lmgate-keep-freed-memory on` (off by default), glibc's malloc then keeps
    freed memory for reuse, in the whole process."""
    resolved = lmgate_settings.torch_device()
    if resolved == "cpu" and lmgate_settings.keep_freed_memory:
        from lmgate.core.allocator import keep_freed_memory

        if kept := keep_freed_memory():
            pytestconfig.stash[MEMORY] = kept
    return resolved


@pytest.fixture
def lmgate_finetune(lmgate_settings: Settings, lmgate_run_cache: "RunCache", lmgate_device: str,
                    lmgate_seed: int) -> Callable[..., "TrainedRun"]:
    """Fine-tune a sequence classifier with the profile's training defaults, cached by content.

    Example::

        run = finetune("minilm", splits, epochs=2)           # DataSplits: train/validation/test
        result = run.predict(splits.test, name="minilm fine-tuned")   # an EvalResult

    `tokenizer_texts=` is needed by embedded models that train their tokenizer on the data; a
    `config=TrainConfig(...)` replaces the profile defaults. Seeded with this run's seed.
    """
    from lmgate.methods.finetune import finetune as run_finetune

    def run(model: str, data: "DataSplits", tokenizer_texts: Sequence[str] | None = None,
            config=None, **overrides: Any) -> "TrainedRun":
        config = (config or lmgate_settings.profile.train).replace(**overrides)
        return run_finetune(model, data, config=config, seed=lmgate_seed, device=lmgate_device,
                            cache=lmgate_run_cache, tokenizer_texts=tokenizer_texts)
    return run


@pytest.fixture(scope="session")
def lmgate_causal_lm(lmgate_run_cache: "RunCache", lmgate_device: str
                     ) -> Callable[[str], "CausalLM"]:
    """`causal_lm(name)`: a causal LM loaded on the session's device, once per session.

    Example::

        lm = causal_lm("smollm2-135m-instruct")
        lm.model, lm.tokenizer          # transformers objects, tokenizer padding on the left
    """
    from lmgate.models.load import load_causal_lm

    loaded: dict[tuple[str, str], CausalLM] = {}

    def get(name: str, dtype: str = "auto") -> "CausalLM":
        if (name, dtype) not in loaded:
            loaded[name, dtype] = load_causal_lm(name, lmgate_run_cache, device=lmgate_device,
                                                 dtype=dtype)
        return loaded[name, dtype]
    return get


@pytest.fixture(scope="session")
def lmgate_zero_shot(lmgate_causal_lm, lmgate_run_cache: "RunCache", lmgate_device: str
                     ) -> Callable[..., "ZeroShotClassifier"]:
    """A zero-/few-shot classifier prompting a causal LM; its predictions are cached. On a CPU
    with native bf16, label scoring runs a bf16 copy first and re-scores close calls in
    float32 (`ZeroShotClassifier.fast`; pass `fast=None` to turn it off); results say so.

    Example::

        prompt = PromptTemplate("Is this review positive or negative? Answer with one word.",
                                {"negative": "negative", "positive": "positive"})
        classifier = zero_shot("smollm2-135m-instruct", prompt, labels=test.labels)
        result = classifier.evaluate(test, mode="score")      # or mode="generate"
    """
    from lmgate.core.device import fast_scoring_dtype
    from lmgate.methods.zero_shot import ZeroShotClassifier
    from lmgate.models.store.registry import get_model_spec

    fast = fast_scoring_dtype(lmgate_device)

    def make(llm: str, template: "PromptTemplate", labels: Sequence[str],
             shots: Sequence[tuple[str, int]] = (), **options) -> "ZeroShotClassifier":
        served = get_model_spec(llm).served        # its server picks the precision
        if fast is not None and "fast" not in options and not served:
            options["fast"] = lmgate_causal_lm(llm, fast)
        return ZeroShotClassifier(lmgate_causal_lm(llm), template, tuple(labels), shots=shots,
                                  cache=lmgate_run_cache, **options)
    return make


@pytest.fixture(scope="session")
def _lmgate_frozen_bases() -> dict:
    """Frozen bases loaded this session (with their heads' seeded initial weights) and the
    features computed through each: runs on one data pool load and encode once."""
    return {}


@pytest.fixture
def lmgate_frozen_head(lmgate_run_cache: "RunCache", lmgate_device: str, lmgate_seed: int,
                       _lmgate_frozen_bases: dict) -> Callable[..., "HeadRun"]:
    """Train a classification head on a frozen base model (base features computed once, cached).

    Example::

        run = frozen_head("smollm2-135m-instruct", train, evaluation, config)
        run.result                      # EvalResult on `evaluation`
        run.predict(test, name="probe") # another EvalResult
        run.frozen.parameters           # {"total", "trainable", "added_by_head", ...}
    """
    import copy

    from lmgate.methods.heads import train_frozen_head
    from lmgate.models.load import load_frozen_base

    def run(base: str, train: "LabeledData", evaluation: "LabeledData", config) -> "HeadRun":
        key = (base, train.labels, lmgate_seed)
        if key not in _lmgate_frozen_bases:
            frozen = load_frozen_base(base, lmgate_run_cache, labels=train.labels,
                                      seed=lmgate_seed)
            _lmgate_frozen_bases[key] = (frozen, copy.deepcopy(frozen.head.state_dict()), {})
        frozen, initial, known_by_length = _lmgate_frozen_bases[key]
        frozen.head.load_state_dict(initial)
        return train_frozen_head(base, train, evaluation, config, cache=lmgate_run_cache,
                                 device=lmgate_device, seed=lmgate_seed, frozen=frozen,
                                 known=known_by_length.setdefault(config.max_length, {}))
    return run


@pytest.fixture
def lmgate_frozen_span_head(lmgate_run_cache: "RunCache", lmgate_device: str, lmgate_seed: int
                            ) -> Callable[..., "SpanHeadRun"]:
    """Train an extractive-QA span head on a frozen base (token features cached).

    Example::

        train, test = read_squad(path)[:200], read_squad(path)[200:]     # lmgate.qa.Question
        run = frozen_span_head("smollm2-135m-instruct", train, test, config,
                               max_length=192, stride=64)
        run.result["f1"], run.result["HasAns_f1"]        # SQuAD v2 metrics (QAResult)
    """
    from lmgate.methods.span_head import train_frozen_span_head

    def run(base: str, train: Sequence["Question"], test: Sequence["Question"], config, *,
            max_length: int = 384, stride: int = 128) -> "SpanHeadRun":
        return train_frozen_span_head(base, train, test, config, max_length=max_length,
                                      stride=stride, cache=lmgate_run_cache,
                                      device=lmgate_device, seed=lmgate_seed)
    return run


@pytest.fixture
def lmgate_lora(lmgate_run_cache: "RunCache", lmgate_seed: int) -> Callable[..., "LoraRun"]:
    """Train (or fetch from the cache) a LoRA adapter for translation on a loaded causal LM.

    Example::

        lm = causal_lm("smollm2-135m-instruct")
        run = lora(lm, train_pairs, validation_pairs, LoraSettings(r=16, alpha=64))
        with adapter(lm, run) as tuned:
            hypotheses = translate(tuned, sources)
    """
    from lmgate.methods.lora import train_lora
    from lmgate.methods.translation import TranslationPrompt

    def run(lm: "CausalLM", train: Sequence[tuple[str, str]],
            validation: Sequence[tuple[str, str]], settings: "LoraSettings",
            prompt: "TranslationPrompt | None" = None) -> "LoraRun":
        return train_lora(lm, train, validation, settings, seed=lmgate_seed,
                          cache=lmgate_run_cache,
                          prompt=prompt or TranslationPrompt())
    return run


# ---- The short names tests write: each is its `lmgate_` fixture, and a fixture of the same
# name in a project's conftest.py takes its place there (lmgate's fixtures never use these). --

@pytest.fixture(scope="session")
def device(lmgate_device: str) -> str:
    """`lmgate_device` under its short name; a `device` fixture in your conftest.py
    replaces it there (lmgate's fixtures use only `lmgate_*` names)."""
    return lmgate_device


@pytest.fixture(scope="session")
def run_cache(lmgate_run_cache: "RunCache") -> "RunCache":
    """`lmgate_run_cache` under its short name; a `run_cache` fixture in your conftest.py
    replaces it there (lmgate's fixtures use only `lmgate_*` names)."""
    return lmgate_run_cache


@pytest.fixture
def knobs(lmgate_knobs: Knobs) -> Knobs:
    """`lmgate_knobs` under its short name; a `knobs` fixture in your conftest.py
    replaces it there (lmgate's fixtures use only `lmgate_*` names)."""
    return lmgate_knobs


@pytest.fixture
def finetune(lmgate_finetune: Callable[..., "TrainedRun"]) -> Callable[..., "TrainedRun"]:
    """`lmgate_finetune` under its short name; a `finetune` fixture in your conftest.py
    replaces it there (lmgate's fixtures use only `lmgate_*` names)."""
    return lmgate_finetune


@pytest.fixture(scope="session")
def causal_lm(lmgate_causal_lm: Callable[[str], "CausalLM"]) -> Callable[[str], "CausalLM"]:
    """`lmgate_causal_lm` under its short name; a `causal_lm` fixture in your conftest.py
    replaces it there (lmgate's fixtures use only `lmgate_*` names)."""
    return lmgate_causal_lm


@pytest.fixture(scope="session")
def zero_shot(lmgate_zero_shot: Callable[..., "ZeroShotClassifier"]
              ) -> Callable[..., "ZeroShotClassifier"]:
    """`lmgate_zero_shot` under its short name; a `zero_shot` fixture in your conftest.py
    replaces it there (lmgate's fixtures use only `lmgate_*` names)."""
    return lmgate_zero_shot


@pytest.fixture
def frozen_head(lmgate_frozen_head: Callable[..., "HeadRun"]) -> Callable[..., "HeadRun"]:
    """`lmgate_frozen_head` under its short name; a `frozen_head` fixture in your conftest.py
    replaces it there (lmgate's fixtures use only `lmgate_*` names)."""
    return lmgate_frozen_head


@pytest.fixture
def frozen_span_head(lmgate_frozen_span_head: Callable[..., "SpanHeadRun"]
                     ) -> Callable[..., "SpanHeadRun"]:
    """`lmgate_frozen_span_head` under its short name; a `frozen_span_head` fixture in your
    conftest.py replaces it there (lmgate's fixtures use only `lmgate_*` names)."""
    return lmgate_frozen_span_head


@pytest.fixture
def lora(lmgate_lora: Callable[..., "LoraRun"]) -> Callable[..., "LoraRun"]:
    """`lmgate_lora` under its short name; a `lora` fixture in your conftest.py
    replaces it there (lmgate's fixtures use only `lmgate_*` names)."""
    return lmgate_lora

