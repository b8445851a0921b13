"""lmgate's command line, offline.

`lmgate compare OLD NEW`: the baseline check between two results folders.
`lmgate merge DIR... --out DIR [--baseline FILE]`: the results folders of several shards
(`--lmgate-shard I/N`) as one: results, predictions, summary, report, plots, one gate verdict.
`lmgate export --format every-eval-ever DIR --out DIR`: a results folder in the Every Eval Ever
format, one JSON per model, validated against the format's schema.
`lmgate push DIR --repo OWNER/NAME`: a results folder as a hub dataset (results, claims,
predictions), saved locally and pushed.
`lmgate import lm-eval DIR --out DIR`, `lmgate import inspect LOG --out DIR`: an
lm-evaluation-harness output (written with --log_samples) or an Inspect log as a results
folder, per-document scores kept, for `lmgate compare` and claims.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from lmgate.core.errors import ConfigError
from lmgate.core.extras import MissingExtra, require
from lmgate.core.io import atomic_write_text
from lmgate.core.markup import terminal_line, terminal_text
from lmgate.gate.decide import DEFAULT_ALPHA, checked_alpha, checked_tolerance, compare
from lmgate.gate.render import failure_message, markdown
from lmgate.gate.measure import measurements
from lmgate.gate.settings import passed_tests_of, settings_by_result
from lmgate.gate.baseline import read_results_dir


def _error(message: object) -> int:
    """A usage or input error: one line on stderr, exit status 2 (1 is a regression)."""
    print(f"lmgate: error: {terminal_text(' '.join(str(message).split()))}", file=sys.stderr)
    return 2


def _say(text: object, file=None) -> None:
    """A line of output: names and messages from data shown, never run by the terminal."""
    print(terminal_text(text), file=file or sys.stdout)


def _tolerant_streams() -> None:
    """stdout/stderr that cannot fail on a character their encoding lacks (an ASCII locale):
    it is written as an escape instead of raising UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):   # closed, or not a text stream
                pass


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line: `lmgate: error: ...` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        _error(f"{message} (see `{self.prog} --help`)")
        sys.exit(2)


def _input_error(exc: BaseException) -> str:
    """What went wrong reading or writing a file, in words (no traceback)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})"
    return str(exc)


def _output_file(path: str | None, flag: str) -> None:
    """A file lmgate will write: not a folder, in a folder that can hold it."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{flag} {path} is a folder: give a file name")
    if target.parent.exists() and not target.parent.is_dir():
        raise ConfigError(f"{flag} {path}: {target.parent} is not a folder")


def _output_folder(path: str, flag: str) -> None:
    """A folder lmgate will write into: not a file, nor under one."""
    for part in (Path(path), *Path(path).parents):
        if part.exists():
            if not part.is_dir():
                raise ConfigError(f"{flag} {path}: {part} is a file, not a folder")
            return


def _apart_from_inputs(target: str | None, flag: str, folders: Sequence[str],
                       files: Sequence[str | None] = ()) -> None:
    """An output that is neither an input file nor inside an input folder: writing it would
    overwrite what the command reads (`--markdown A/results.jsonl`). Links resolved."""
    if target is None:
        return
    where = Path(target).resolve()
    for folder in folders:
        inside = Path(folder).resolve()
        if where == inside or inside in where.parents:
            raise ConfigError(f"{flag} {target} is inside the input folder {folder}: "
                              "write it elsewhere")
    for name in filter(None, files):
        if where == Path(name).resolve():
            raise ConfigError(f"{flag} {target} is the input file {name}: write it elsewhere")


def _compare(args: argparse.Namespace) -> int:
    _output_file(args.markdown, "--markdown")
    _apart_from_inputs(args.markdown, "--markdown", [args.old, args.new])
    old_rows, old_preds = read_results_dir(args.old)
    new_rows, new_preds = read_results_dir(args.new)
    old, old_ex = measurements(old_rows, old_preds)
    new, new_ex = measurements(new_rows, new_preds)
    report = compare(old, new, old_ex, new_ex, tolerance=args.tolerance, alpha=args.alpha,
                     strict_missing=args.strict_missing, settings=settings_by_result(new_rows),
                     passed_tests=passed_tests_of(new_rows))
    text = "## Compared with baseline\n\n" + markdown(report, show_unchanged=not args.changes_only)
    if args.markdown:
        atomic_write_text(args.markdown, text)   # UTF-8 whatever the locale
    _say(text)
    if not report.passed:
        _say(failure_message(report, flags="--"), file=sys.stderr)
        return 1
    return 0


def _merge(args: argparse.Namespace) -> int:
    from lmgate.core.folder import foreign_results, publish
    from lmgate.gate.baseline import read_baseline
    from lmgate.report.writers import read_results, write_folder

    out = Path(args.out)
    _output_folder(args.out, "--out")
    _apart_from_inputs(args.out, "--out", args.folders, [args.baseline])
    theirs = foreign_results(out)
    if theirs:
        return _error(f"{out} holds {', '.join(theirs)}, which lmgate did not write: "
                      "choose another --out")
    rows, predictions, sections, claims, seen = [], [], [], [], {}
    for folder in args.folders:
        more_rows, more_preds, more_sections, more_claims = read_results(folder)
        for row in more_rows:
            if row.record_id in seen:
                return _error(f"{row.nodeid} ({row.result}) is in both "
                              f"{seen[row.record_id]} and {folder}: shards must not overlap")
            seen[row.record_id] = folder
        rows += more_rows
        predictions += more_preds
        sections += more_sections
        claims += more_claims
    gate_sections, status = [], 0
    if args.baseline:
        old, old_ex = read_baseline(args.baseline)
        new, new_ex = measurements(rows, predictions)
        report = compare(old, new, old_ex, new_ex, tolerance=args.tolerance, alpha=args.alpha,
                         settings=settings_by_result(rows), passed_tests=passed_tests_of(rows))
        gate_sections = [("Compared with baseline", markdown(report))]
        if not report.passed:
            _say(failure_message(report, flags="--"), file=sys.stderr)
            status = 1
    publish(out, lambda stage: write_folder(stage, rows, predictions, gate_sections, sections,
                                            claims))
    _say(f"merged {len(rows)} result row(s) from {len(args.folders)} folder(s) into {out}")
    return status


def _export(args: argparse.Namespace) -> int:
    from lmgate.core.cache import RunCache
    from lmgate.core.config import default_cache_dir
    from lmgate.report import every_eval_ever as eee
    from lmgate.report.writers import read_results

    _output_folder(args.out, "--out")
    _apart_from_inputs(args.out, "--out", [args.folder])
    if args.validate:   # before any work
        require("jsonschema", "lmgate export (--no-validate writes the files unchecked)")
    try:
        rows = read_results(args.folder)[0]
        if not rows:
            raise ConfigError(f"{args.folder} holds no results (results.jsonl is empty)")
        evaluated_at = (Path(args.folder) / "results.jsonl").stat().st_mtime
        export = eee.to_every_eval_ever(rows, organization=args.organization,
                                        relationship=args.relationship,
                                        evaluated_at=evaluated_at)
        if not export.documents:
            raise ConfigError(f"{args.folder} has no metric with a declared direction to export")
        if args.validate:
            schema = eee.schema(RunCache(default_cache_dir()))
            for model, doc in export.documents.items():
                try:
                    eee.validate(doc, schema)
                except ConfigError as exc:   # lmgate's own bug: say so, write nothing
                    raise ConfigError(f"the export for {model!r} is {exc}") from None
        paths = eee.write(export, Path(args.out))
    except (FileNotFoundError, ConfigError) as exc:
        return _error(_input_error(exc))
    for line in export.left_out:
        _say(f"left out: {line}")
    checked = f"valid Every Eval Ever {eee.SCHEMA_VERSION}" if args.validate else "not validated"
    for path in paths:
        _say(f"wrote {path} ({checked})")
    return 0


def _push(args: argparse.Namespace) -> int:
    from lmgate.report.hub import push

    folder = Path(args.folder)
    _apart_from_inputs(args.save_to, "--save-to", [args.folder])
    save_to = Path(args.save_to) if args.save_to else \
        folder.resolve().parent / f"{folder.resolve().name}-hub-dataset"
    try:
        outcome = push(folder, args.repo, save_to=save_to, token_env=args.token_env,
                       private=not args.public)
    except (FileNotFoundError, ConfigError) as exc:
        return _error(_input_error(exc))
    rows = ", ".join(f"{name} {n} rows" for name, n in outcome.rows.items())
    _say(f"saved {outcome.saved} ({rows})")
    if not outcome.pushed:
        _say(f"lmgate push: not pushed to {args.repo}: {outcome.reason}; the dataset is saved "
              f"at {outcome.saved} (rerun `lmgate push` from a machine that reaches the hub)",
              file=sys.stderr)
        return 1
    _say(f"pushed to the dataset {args.repo} ({'public' if args.public else 'private'})")
    return 0


def _import(args: argparse.Namespace) -> int:
    from lmgate.report.interop import write_imported

    _output_folder(args.out, "--out")
    _apart_from_inputs(args.out, "--out", [args.source])
    if args.tool == "lm-eval":
        from lmgate.report.interop.lm_eval import read_lm_eval as read
    else:
        from lmgate.report.interop.inspect_log import read_inspect as read
    items = read(args.source, args.cluster_by)
    write_imported(items, Path(args.out))
    for item in items:
        epoch = f", epoch {item.seed}" if item.seed is not None else ""
        values = ", ".join(f"{m} {v:.4f}" for m, v in sorted(item.result.metrics.items()))
        _say(terminal_line(f"{item.tool} {item.task} ({item.model}{epoch}): "
                           f"n={item.result.n}, {values}"))
    _say(f"imported {len(items)} result(s) into {args.out}")
    return 0


def _option_type(check, flag: str):
    """An argparse type from a checker: a bad value is a usage error (exit 2) naming `flag`."""
    def convert(text: str) -> float:
        try:
            return check(text, flag)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = flag
    return convert


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_streams()
    parser = _Parser(prog="lmgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser("compare", help="compare two results folders (OLD is the baseline)")
    cmp.add_argument("old", help="baseline results folder (results.jsonl, predictions.jsonl)")
    cmp.add_argument("new", help="candidate results folder")
    tolerance, alpha = (_option_type(checked_tolerance, "--tolerance"),
                        _option_type(checked_alpha, "--alpha"))
    cmp.add_argument("--tolerance", type=tolerance, default=None,
                     help="fixed absolute tolerance (default: each metric's own noise)")
    cmp.add_argument("--alpha", type=alpha, default=DEFAULT_ALPHA,
                     help="false-alarm probability of the whole comparison")
    cmp.add_argument("--strict-missing", action="store_true",
                     help="fail when a metric of OLD is missing from NEW")
    cmp.add_argument("--changes-only", action="store_true", help="hide rows within noise")
    cmp.add_argument("--markdown", help="also write the table to this file")
    merge = sub.add_parser("merge", help="merge the results folders of several shards")
    merge.add_argument("folders", nargs="+", help="results folders (one per shard)")
    merge.add_argument("--out", required=True, help="folder for the merged results")
    merge.add_argument("--baseline", help="baseline JSON: one gate verdict for all shards")
    merge.add_argument("--tolerance", type=tolerance, default=None)
    merge.add_argument("--alpha", type=alpha, default=DEFAULT_ALPHA)
    export = sub.add_parser("export", help="a results folder in another format")
    export.add_argument("folder", help="results folder (results.jsonl)")
    export.add_argument("--format", required=True, choices=["every-eval-ever"])
    export.add_argument("--out", required=True, help="folder for the exported files")
    export.add_argument("--organization", default="lmgate user",
                        help="who ran the evaluation (source_organization_name)")
    export.add_argument("--relationship", default="third_party",
                        choices=["first_party", "third_party", "collaborative", "other"],
                        help="the evaluator's relationship to the models")
    export.add_argument("--no-validate", dest="validate", action="store_false",
                        help="skip the schema check (it fetches the every-eval-ever wheel once)")
    hub = sub.add_parser("push", help="a results folder as a Hugging Face hub dataset")
    hub.add_argument("folder", help="results folder (results.jsonl)")
    hub.add_argument("--repo", required=True, help="dataset id OWNER/NAME")
    hub.add_argument("--save-to", help="local copy (default: <folder>-hub-dataset beside it)")
    hub.add_argument("--token-env", default="HF_TOKEN",
                     help="environment variable holding the hub token (default HF_TOKEN)")
    hub.add_argument("--public", action="store_true", help="make a new dataset public")
    imports = sub.add_parser("import", help="another tool's run as a results folder")
    tools = imports.add_subparsers(dest="tool", required=True)
    for tool, summary, source, what in (
            ("lm-eval", "an lm-evaluation-harness run", "lm-eval's --output_path folder or one "
             "results_*.json (written with --log_samples)", "document field"),
            ("inspect", "an Inspect run", "an Inspect log (.eval or .json) or a folder of them",
             "sample metadata field")):
        one = tools.add_parser(tool, help=f"{summary} as a results folder")
        one.add_argument("source", help=source)
        one.add_argument("--out", required=True, help="results folder to write")
        one.add_argument("--cluster-by", metavar="FIELD",
                         help=f"a {what} whose equal values make one cluster (documents "
                              "sharing a passage or source)")
    args = parser.parse_args(argv)
    try:
        return {"compare": _compare, "merge": _merge, "export": _export,
                "push": _push, "import": _import}[args.command](args)
    # a file or input, or an extra of lmgate's the command needs: not a bug
    except (ConfigError, MissingExtra, OSError, UnicodeDecodeError) as exc:
        return _error(_input_error(exc))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
