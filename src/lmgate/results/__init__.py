"""Results: the `Result` protocol and lmgate's classification, generation and QA results."""

from lmgate.results.base import Comparable, Result, degenerate_reason, excerpt
from lmgate.results.classification import EvalResult
from lmgate.results.generation import GenerationResult
from lmgate.results.qa import QAResult

__all__ = ["Comparable", "EvalResult", "GenerationResult", "QAResult", "Result",
           "degenerate_reason", "excerpt"]
