"""A classification head on an encoder's mean-pooled hidden states (a linear probe).

transformers' `AutoModelForSequenceClassification` for BERT-style encoders reads the pooler
(a dense + tanh layer on [CLS], trained by next-sentence prediction or left random) through
dropout; a frozen sentence encoder such as multilingual-e5 is meant to be read by mean pooling
over its tokens. This module is that: the frozen base, mean pooling, a bias-free linear `score`
layer (hidden x labels parameters, the same shape as the causal-LM head).
"""
from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of `hidden` over the positions `attention_mask` keeps."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


class MeanPooledClassifier(nn.Module):
    """`base` (an encoder), mean pooling, and a linear `score` layer."""

    def __init__(self, base: nn.Module, num_labels: int) -> None:
        super().__init__()
        self.base_model = base
        self.config = base.config
        self.config.num_labels = num_labels
        self.score = nn.Linear(base.config.hidden_size, num_labels, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                **kwargs) -> SequenceClassifierOutput:
        hidden = self.base_model(input_ids=input_ids,
                                 attention_mask=attention_mask).last_hidden_state
        pooled = mean_pool(hidden, attention_mask).to(self.score.weight.dtype)
        return SequenceClassifierOutput(logits=self.score(pooled))
