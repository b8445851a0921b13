"""Runs of other evaluation tools as lmgate results folders: `lmgate import lm-eval` and
`lmgate import inspect` (the importers), and `imported_run`, which reads one task of such a
folder back as a result that claims compare."""

from lmgate.report.interop.runs import Imported, imported_run, write_imported

__all__ = ["Imported", "imported_run", "write_imported"]
