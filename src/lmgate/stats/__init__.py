"""Statistics over results: paired comparisons, claims (`assert_*`), the claim bus, seeds."""

from lmgate.metrics.resampling import Interval, bootstrap_ci, bootstrap_mean_ci
from lmgate.stats.claims import (assert_above, assert_better, assert_better_bleu,
                                 assert_equivalent, assert_non_inferior, assert_not_worse)
from lmgate.stats.comparison import Comparison, comparison_in_words
from lmgate.stats.listeners import ClaimFailed, assert_claim, comparisons_to
from lmgate.stats.paired import (mcnemar, paired_bootstrap, paired_bootstrap_bleu,
                                 paired_bootstrap_means)
from lmgate.stats.seeds import SeedSummary, summarise_seeds

__all__ = [
    "ClaimFailed", "Comparison", "Interval", "SeedSummary", "assert_above", "assert_better",
    "assert_claim",
    "assert_better_bleu", "assert_equivalent", "assert_non_inferior", "assert_not_worse",
    "bootstrap_ci", "bootstrap_mean_ci", "comparison_in_words", "comparisons_to", "mcnemar",
    "paired_bootstrap", "paired_bootstrap_bleu", "paired_bootstrap_means", "summarise_seeds",
]
