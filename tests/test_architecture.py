"""lmgate's architecture, checked: the layer contract, module sizes, the public API."""

from __future__ import annotations

import ast
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lmgate

#: `lint-imports`, run by this interpreter (a console script may not be on PATH, e.g. under
#: pyenv before a rehash).
LINT_IMPORTS = [sys.executable, "-c", "import sys; from importlinter.cli import "
                "lint_imports_command; sys.exit(lint_imports_command())"]
SRC = Path(lmgate.__file__).parent
ROOT = SRC.parent.parent
MAX_LINES = 400


def test_layers_import_only_downward_and_nothing_imports_in_a_circle():
    """`lint-imports` with pyproject.toml's contracts (lazy and TYPE_CHECKING imports count)."""
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("lmgate is installed without its source tree")
    done = subprocess.run([*LINT_IMPORTS, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_contract_catches_an_upward_import(tmp_path):
    """The same contract on a copy of the package with one upward import fails."""
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("lmgate is installed without its source tree")
    copy = tmp_path / "src"
    shutil.copytree(SRC, copy / "lmgate")
    errors = copy / "lmgate" / "core" / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _upward():\n"
                      "    from lmgate.report.records import Recorder  # noqa: F401\n")
    config = tmp_path / "pyproject.toml"
    config.write_text((ROOT / "pyproject.toml").read_text())
    done = subprocess.run([*LINT_IMPORTS, "--config", str(config)], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(copy), "PATH": ""})
    assert done.returncode != 0 and "lmgate.core.errors -> lmgate.report.records" in done.stdout


def test_no_module_is_over_the_size_of_one_job():
    sizes = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > MAX_LINES} == {}


def _type_checking_names() -> set[str]:
    tree = ast.parse((SRC / "__init__.py").read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    return {alias.asname or alias.name for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}


def test_the_lazy_table_and_the_type_checking_imports_list_the_same_names():
    assert set(lmgate.__all__) == _type_checking_names()


def test_every_public_name_loads_and_says_how_it_is_called():
    undocumented = []
    for name in lmgate.__all__:
        value = getattr(lmgate, name)
        module = lmgate._MODULE_OF[name]
        assert value.__module__.startswith("lmgate"), (name, value.__module__)
        if (inspect.isclass(value) or inspect.isfunction(value)) and not inspect.getdoc(value):
            undocumented.append(f"{module}.{name}")
    assert undocumented == []
