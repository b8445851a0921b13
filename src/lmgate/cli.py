"""`lmgate compare OLD NEW`: the baseline check between two results folders, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from lmgate.gate import (DEFAULT_ALPHA, compare, failure_message, markdown, measurements,
                         read_results_dir)


def _compare(args: argparse.Namespace) -> int:
    try:
        old_rows, old_preds = read_results_dir(args.old)
        new_rows, new_preds = read_results_dir(args.new)
    except FileNotFoundError as exc:
        print(f"lmgate compare: {exc}", file=sys.stderr)
        return 2
    old, old_ex = measurements(old_rows, old_preds)
    new, new_ex = measurements(new_rows, new_preds)
    report = compare(old, new, old_ex, new_ex, tolerance=args.tolerance, alpha=args.alpha,
                     strict_missing=args.strict_missing)
    text = "## Compared with baseline\n\n" + markdown(report, show_unchanged=not args.changes_only)
    if args.markdown:
        Path(args.markdown).write_text(text)
    print(text)
    if not report.passed:
        print(failure_message(report), file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lmgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser("compare", help="compare two results folders (OLD is the baseline)")
    cmp.add_argument("old", help="baseline results folder (results.jsonl, predictions.jsonl)")
    cmp.add_argument("new", help="candidate results folder")
    cmp.add_argument("--tolerance", type=float, default=None,
                     help="fixed absolute tolerance (default: each metric's own noise)")
    cmp.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                     help="false-alarm probability of the whole comparison")
    cmp.add_argument("--strict-missing", action="store_true",
                     help="fail when a metric of OLD is missing from NEW")
    cmp.add_argument("--changes-only", action="store_true", help="hide rows within noise")
    cmp.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args(argv)
    return _compare(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
