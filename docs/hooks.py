"""mkdocs hooks: reference pages generated from the code, so that they cannot go stale.

A page holds a placeholder comment; `on_page_markdown` replaces it before Markdown (and
mkdocstrings) run:

- `<!-- lmgate:options -->`: every option and ini key the plugin registers, from the plugin
  modules' own `pytest_addoption` hooks run against a real pytest parser;
- `<!-- lmgate:api -->`: a mkdocstrings block per module of `lmgate._EXPORTS` (the public API);
- `<!-- lmgate:cli -->`: the `--help` of `lmgate` and of each subcommand;
- `<!-- lmgate:include PATH -->`: a file of the repository (relative to its root), inlined;
- `<!-- lmgate:readme-example -->`: the README's example files (the ones
  tests/test_readme_example.py runs), so the manual shows the same, tested experiment;
- `<!-- lmgate:extras -->`: lmgate's extras, what each installs (pyproject.toml) and what it
  enables (`lmgate.core.extras`).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(
    r"<!-- lmgate:(?P<what>options|api|cli|include|readme-example|extras|sequential-table|sequential-savings)(?: (?P<arg>\S+))? -->")
EXAMPLE = re.compile(r"<!-- example: (?P<name>\S+) -->\n```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)
INI_SUFFIX = re.compile(r" \(ini: [^)]*\)$")


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def options_markdown() -> str:
    """Tables of the lmgate option group and of the ini keys lmgate registers."""
    from _pytest.config.argparsing import Parser

    import lmgate.plugin

    parser = Parser(_ispytest=True)
    for name in lmgate.plugin.pytest_plugins:
        hook = getattr(importlib.import_module(name), "pytest_addoption", None)
        if hook is not None:
            hook(parser)
    ini = dict(parser._inidict)  # name -> (help, type, default)
    lines = ["| option | ini key | default | what it does |", "|---|---|---|---|"]
    for option in parser.getgroup("lmgate").options:
        attrs = option.attrs()
        dest = attrs["dest"]
        if attrs.get("action") == "store_true":
            key, default = "", "off (a switch)"
        elif dest in ini:
            key, default = f"`{dest}`", ini[dest][2]
        else:
            key, default = "", attrs.get("default")
        if isinstance(default, list):
            default = ", ".join(default)
        default = f"`{default}`" if default not in ("", None, "off (a switch)") else (
            default or "unset")
        help_text = INI_SUFFIX.sub("", attrs.get("help", ""))
        lines.append(f"| `{' '.join(option.names())}` | {key} | {_cell(default)} | "
                     f"{_cell(help_text)} |")
    flags = {o.attrs()["dest"] for o in parser.getgroup("lmgate").options}
    extra = [(name, spec) for name, spec in ini.items() if name not in flags]
    if extra:
        lines += ["", "Ini keys without a command-line option:", "",
                  "| ini key | default | what it sets |", "|---|---|---|"]
        for name, (help_text, _type, default) in extra:
            shown = ", ".join(default) if isinstance(default, list) else default
            lines.append(f"| `{name}` | {_cell(f'`{shown}`' if shown not in ('', None, []) else 'unset')}"
                         f" | {_cell(help_text)} |")
    return "\n".join(lines)


def api_markdown() -> str:
    """One mkdocstrings block per module that `import lmgate` exports names from."""
    import lmgate

    blocks = []
    for module, names in lmgate._EXPORTS.items():
        members = ", ".join(names)
        blocks.append(f"::: {module}\n    options:\n      members: [{members}]\n"
                      f"      show_root_full_path: true\n")
    return "\n".join(blocks)


def _help(argv: list[str]) -> str:
    from lmgate.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(argv)
    return out.getvalue().rstrip()


def cli_markdown() -> str:
    """`lmgate --help` and each subcommand's, as the installed command prints them."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "96"
    try:
        top = _help(["--help"])
        commands = re.search(r"\{([a-z,-]+)\}", top)
        parts = ["```text", "$ lmgate --help", top, "```"]
        for command in (commands.group(1).split(",") if commands else []):
            parts += ["", f"## lmgate {command}", "", "```text", f"$ lmgate {command} --help",
                      _help([command, "--help"]), "```"]
        return "\n".join(parts)
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


def include_markdown(path: str) -> str:
    target = (ROOT / path).resolve()
    if ROOT not in target.parents:
        raise ValueError(f"lmgate:include {path!r} is outside the repository")
    return target.read_text(encoding="utf-8")


def readme_example_markdown() -> str:
    """The README's example files, each as a code block headed by its file name."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [f"`{m['name']}`:\n\n```{m['lang']}\n{m['body']}```"
              for m in EXAMPLE.finditer(readme)]
    if not blocks:
        raise ValueError("README.md holds no <!-- example: NAME --> blocks")
    return "\n\n".join(blocks)


#: The extras that are not one feature of lmgate's, and what each is for.
COLLECTIONS = {"all": "every extra above", "test": "this repository's own suite",
               "docs": "this manual (`mkdocs build --strict`)"}


def extras_markdown() -> str:
    """A table of the extras: what each installs and what it enables."""
    from lmgate.core.extras import EXTRAS
    from lmgate.core.pyproject import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = ["| extra | installs | enables |", "|---|---|---|"]
    for name, enables in {**EXTRAS, **COLLECTIONS}.items():
        installs = ", ".join(f"`{r}`" for r in project["optional-dependencies"][name])
        lines.append(f"| `{name}` | {_cell(installs)} | {_cell(enables)} |")
    return "\n".join(lines)


def sequential_markdown() -> str:
    """The sequential claims' validity and power table, read from the benchmark's results."""
    import json

    path = ROOT / "benchmarks" / "results" / "sequential_validity.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    null = data["null"]
    lines = [f"`{data['command']}` on {data['machine']}: paired accuracy, looked at every "
             f"{data['looks_every']} examples, alpha {data['alpha']}.", "",
             "| under the null ({} replicates) | false claims |".format(null["replicates"]),
             "|---|---|",
             f"| lmgate's sequential claim | {null['sequential_false_claims']:.3f} |",
             "| fixed-n bootstrap test repeated after every batch (naive peeking) | "
             f"{null['naive_peeking_false_claims']:.3f} |", "",
             "| true difference | margin | sequential power | fixed-n power (all n) | "
             "examples used (mean / median of n) |", "|---|---|---|---|---|"]
    for row in data["power"]:
        lines.append(f"| {row['true_diff']:+.2f} | {row['margin']:.2f} | "
                     f"{row['sequential_power']:.3f} | {row['fixed_n_power']:.3f} | "
                     f"{row['mean_examples_used']:.0f} / {row['median_examples_used']:.0f} of "
                     f"{row['n']} |")
    return "\n".join(lines)


def savings_markdown() -> str:
    """The smoke claims judged sequentially and on every example, read from the benchmark."""
    import json

    path = ROOT / "benchmarks" / "results" / "sequential_savings.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [f"`{data['command']}` on {data['machine']['cpu']}, a fresh run cache sharing only "
             "the model store:", "",
             "| smoke claim | examples scored | zero-shot model seconds: sequential / all | "
             "sequential verdict | fixed-n verdict |", "|---|---|---|---|---|"]
    for row in data["claims"]:
        fixed = "held" if row["fixed_n_held"] else "not held"
        lines.append(f"| `{row['test'].split('::')[-1]}` | {row['examples_used']} of "
                     f"{row['examples_available']} | {row['sequential_model_s']:.1f} / "
                     f"{row['fixed_n_model_s']:.1f} | {row['sequential_verdict']} | {fixed} |")
    return "\n".join(lines)


#: What each `<!-- lmgate:NAME -->` placeholder becomes (`include PATH` inlines a file).
GENERATORS = {"options": options_markdown, "api": api_markdown, "cli": cli_markdown,
              "readme-example": readme_example_markdown, "extras": extras_markdown,
              "sequential-table": sequential_markdown, "sequential-savings": savings_markdown}


def on_page_markdown(markdown: str, page, config, files) -> str:
    def expand(match: re.Match) -> str:
        if match["what"] == "include":
            return include_markdown(match["arg"])
        return GENERATORS[match["what"]]()

    return PLACEHOLDER.sub(expand, markdown)
