"""What an attack model sees of the target's answer for one record."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from mia_core import TargetOracle

FEATURES = ("loss", "probabilities", "log-probabilities")


def attack_features(oracle: TargetOracle, x: torch.Tensor, y: torch.Tensor, kind: str,
                    num_classes: int, with_label: bool = True) -> torch.Tensor:
    """Features (N, d) from the target's output for records (x, y), plus the one-hot label.

    ``loss``: per-record cross-entropy (ART's ``input_type="loss"``); ``probabilities``: the
    softmax vector (ART's ``"prediction"``); ``log-probabilities``: its logarithm, which keeps
    the differences between 0.999 and 0.99999 that saturate a raw probability vector.
    """
    return features_from_logits(oracle.logits(x), y, kind, num_classes, with_label)


def features_from_logits(logits: torch.Tensor, y: torch.Tensor, kind: str, num_classes: int,
                         with_label: bool = True) -> torch.Tensor:
    """:func:`attack_features` for logits already at hand (e.g. a reference model's)."""
    log_probs = F.log_softmax(logits.float(), dim=1)
    if kind == "loss":
        feats = -log_probs.gather(1, y[:, None])
    elif kind == "probabilities":
        feats = log_probs.exp()
    elif kind == "log-probabilities":
        feats = log_probs.clamp_min(-100.0)
    else:
        raise ValueError(f"unknown feature kind {kind!r}; use one of {', '.join(FEATURES)}")
    if with_label:
        feats = torch.cat([feats, F.one_hot(y, num_classes).float()], dim=1)
    return feats
