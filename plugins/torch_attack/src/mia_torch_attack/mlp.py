"""The small attack network shared by the learned attacks."""

from __future__ import annotations

from torch import nn


def mlp(inputs: int, hidden: int) -> nn.Module:
    """inputs -> hidden -> hidden/2 -> 2 logits (non-member, member), ReLU between."""
    half = max(hidden // 2, 1)
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, half),
                         nn.ReLU(), nn.Linear(half, 2))
