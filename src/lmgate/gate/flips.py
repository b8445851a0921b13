"""Flips: the examples whose predictions went right->wrong or wrong->right against the
baseline's (a classifier's labels, or an imported run's 0/1 per-document scores), with
McNemar's exact test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from lmgate.stats.paired import mcnemar_arrays


@dataclass
class Flips:
    """How one classification result's predictions changed against the baseline's."""

    key: str                        # group::result
    right_to_wrong: int
    wrong_to_right: int
    p_value: float                  # McNemar's exact test on the flipped examples
    n: int
    examples: list[dict[str, Any]]  # the first flipped examples: index, gold, old, new

    def describe(self) -> str:
        return (f"{self.key}: {self.right_to_wrong} right->wrong, {self.wrong_to_right} "
                f"wrong->right of {self.n} (McNemar exact p = {self.p_value:.3g})")


FLIP_EXAMPLES = 5


def flips(baseline_examples: Mapping[str, list[dict]],
          current_examples: Mapping[str, list[dict]]) -> list[Flips]:
    """Per classification result scored on the same examples as the baseline (first seed):
    the examples that went right->wrong and wrong->right, with McNemar's exact p."""
    out = []
    for key in sorted(set(baseline_examples) & set(current_examples)):
        old, new = baseline_examples[key][0], current_examples[key][0]
        if "scores" in old or "scores" in new:   # per-document scores (an imported run)
            if "scores" in old and "scores" in new:
                out += scored_flips(key, old, new)
            continue
        if old["y_true"] != new["y_true"]:
            continue
        truth, before, after = (np.asarray(old["y_true"]), np.asarray(old["y_pred"]),
                                np.asarray(new["y_pred"]))
        test = mcnemar_arrays(truth, after, before)
        names = new.get("label_names") or old.get("label_names") or []
        name = lambda i: names[i] if 0 <= i < len(names) else "invalid"  # noqa: E731
        changed = np.flatnonzero((before == truth) != (after == truth))
        texts = new.get("examples") or old.get("examples") or []
        shown = [{"index": int(i), "gold": name(int(truth[i])), "baseline": name(int(before[i])),
                  "now": name(int(after[i])), **({"text": texts[i]} if i < len(texts) else {})}
                 for i in changed[:FLIP_EXAMPLES]]
        out.append(Flips(key, test.b_only, test.a_only, test.p_value, len(truth), shown))
    return out


def scored_flips(key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Flips]:
    """Per 0/1 metric both runs scored on the same ids (first seed): the documents whose score
    went 1 -> 0 and 0 -> 1, with McNemar's exact p."""
    out = []
    for metric in sorted(set(old["scores"]) & set(new["scores"])):
        before = dict(zip(map(str, old["ids"]), old["scores"][metric]))
        after = dict(zip(map(str, new["ids"]), new["scores"][metric]))
        values = [*before.values(), *after.values()]
        if set(before) != set(after) or not all(v in (0, 1) for v in values):
            continue
        ids = list(after)
        was = np.array([before[i] for i in ids], dtype=np.int64)
        now = np.array([after[i] for i in ids], dtype=np.int64)
        test = mcnemar_arrays(np.ones(len(ids), dtype=np.int64), now, was)
        changed = [i for i in ids if before[i] != after[i]]
        shown = [{"index": i, "gold": metric, "baseline": f"{before[i]:g}",
                  "now": f"{after[i]:g}"} for i in changed[:FLIP_EXAMPLES]]
        out.append(Flips(f"{key} ({metric})", test.b_only, test.a_only, test.p_value, len(ids),
                         shown))
    return out
