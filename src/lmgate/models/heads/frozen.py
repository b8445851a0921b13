"""A transformers model with a task head on a frozen base, and its parameter accounting.

The heads are transformers' own: `AutoModelForSequenceClassification` (a bias-free `score`
layer applied at the last non-padding token, hidden x labels parameters) and
`AutoModelForQuestionAnswering` (`qa_outputs`, a Linear(hidden, 2) with bias: 2 x (hidden + 1)).
On an encoder the classification head is `lmgate.models.heads.pooled.MeanPooledClassifier` (the same
bias-free `score` layer, read at the mean of the tokens: how a sentence encoder is read).
`lmgate.models.load` loads one; `lmgate.methods.heads` and `lmgate.methods.span_head` train it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TASKS = ("classification", "qa")


@dataclass
class FrozenBaseModel:
    """A transformers model with a task head whose base is frozen, plus its accounting."""

    name: str
    task: str
    model: Any
    tokenizer: Any
    fingerprint: str
    pooling: str = "last"      # "last": last non-padding token (causal LM); "mean": encoder
    parameters: dict[str, int] = field(default_factory=dict)
    cpu_bf16_features: bool = False   # the spec's opt-in (lmgate.core.device.head_feature_dtype)

    @property
    def head(self):
        return self.model.score if self.task == "classification" else self.model.qa_outputs

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    def expected_head_parameters(self) -> int:
        """hidden x labels (no bias) for classification; 2 x (hidden + 1) for span QA."""
        if self.task == "classification":
            return self.hidden_size * self.model.config.num_labels
        return 2 * (self.hidden_size + 1)

def count_parameters(model) -> dict[str, int]:
    """{'total', 'trainable', 'base', 'added_by_head'} for a transformers model with a head."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    base_model = getattr(model, "base_model", model)
    base = sum(p.numel() for p in base_model.parameters()) if base_model is not model else total
    return {"total": total, "trainable": trainable, "base": base, "added_by_head": total - base}
