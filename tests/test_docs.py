"""The manual builds: `mkdocs build --strict` (a broken link, a missing page or anchor, a
reference to a module or name that no longer exists fails it), and its generated reference
pages list what the code registers."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "material")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    missing = [name for name in NEEDED if importlib.util.find_spec(name.split(".")[0]) is None
               or importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the docs extra is not installed (missing {', '.join(missing)}): "
                    "pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                          str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    return out


def test_docs_build_strict(site: Path):
    assert (site / "index.html").exists()
    assert (site / "reference" / "api" / "index.html").exists()


def test_generated_reference_lists_every_option_and_export(site: Path):
    import lmgate
    from lmgate.plugin.options import OPTIONS, SWITCHES, flag

    options = (site / "reference" / "options" / "index.html").read_text(encoding="utf-8")
    for dest in [ini for ini, _, _ in OPTIONS] + [dest for dest, _ in SWITCHES]:
        assert flag(dest) in options, flag(dest)
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    anchors = set(re.findall(r'id="(lmgate\.[\w.]+)"', api))
    for name in lmgate.__all__:
        assert f"{lmgate._MODULE_OF[name]}.{name}" in anchors, name
