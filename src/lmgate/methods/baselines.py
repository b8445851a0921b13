"""Classical baselines every study reuses: majority class and TF-IDF + logistic regression."""

from __future__ import annotations

from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from lmgate.data.types import LabeledData, carried_info
from lmgate.results.classification import EvalResult


def _fit_predict(name: str, estimator, train: LabeledData, test: LabeledData) -> EvalResult:
    if train.labels != test.labels:
        raise ValueError(f"train labels {train.labels} differ from test labels {test.labels}")
    estimator.fit(train.texts, train.y)
    info = carried_info(train, test)
    empty = [label for label, count in train.label_counts().items() if count == 0]
    if empty:
        info["notes"].append(f"class(es) {empty} have no training rows: the model never "
                             "predicts them, so their F1 is 0 by construction")
    return EvalResult(name, test.labels, test.y, estimator.predict(test.texts),
                      params={"model": name}, info={"n_train": len(train), **info,
                                                    "data_fingerprint": test.fingerprint()},
                      examples=test.texts, clusters=test.clusters)


def majority_class(train: LabeledData, test: LabeledData) -> EvalResult:
    """Always predict the most frequent training label (ties: the lowest label id)."""
    return _fit_predict("majority", DummyClassifier(strategy="most_frequent"), train, test)


def tfidf_logreg(train: LabeledData, test: LabeledData, seed: int = 0) -> EvalResult:
    """Character 1-4-gram TF-IDF (script-agnostic) + logistic regression."""
    pipeline = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), min_df=2, sublinear_tf=True,
                        max_features=200_000),
        LogisticRegression(max_iter=2000, C=2.0, random_state=seed))
    return _fit_predict("tfidf-logreg", pipeline, train, test)
