"""Result records, writers (JSON lines, CSV, Markdown) and plots."""

from lmgate.report.records import Recorder
from lmgate.results.classification import EvalResult
from lmgate.report.writers import key_table, write_results

__all__ = ["EvalResult", "Recorder", "key_table", "write_results"]
