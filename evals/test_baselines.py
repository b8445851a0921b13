"""Baseline rows every study reuses, on the multilingual sentiment data.

Method: per language, train a character n-gram TF-IDF + logistic-regression classifier on the
full training split and compare it with the majority-class baseline on the test split.
Claim: TF-IDF beats majority on macro F1 by at least 0.05 (paired bootstrap, 95%).
"""

import pytest

from lmgate import assert_better
from lmgate.methods.baselines import majority_class, tfidf_logreg

LANGUAGES = ("ar", "de", "en", "es", "fr", "hi", "it", "ja", "ms", "pt")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_tfidf_beats_majority_class(lang, sentiment_language, record, lmgate_settings):
    data = sentiment_language(lang)
    tfidf = tfidf_logreg(data.train, data.test, seed=lmgate_settings.seed)
    majority = majority_class(data.train, data.test)
    record(tfidf, majority)
    assert_better(tfidf, majority, metric="macro_f1", margin=0.05)
