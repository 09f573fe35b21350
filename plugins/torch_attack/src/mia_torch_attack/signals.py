"""Per-record statistics computed from a classifier's logits and the true labels (the
log-likelihood and LiRA's confidence are the core's signals, re-exported here)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from mia_core import best_threshold, scaled_confidence, true_log_prob

__all__ = ["best_threshold", "entropy", "modified_entropy", "rank_auc", "scaled_confidence",
           "taylor_exp", "taylor_soft_margin", "true_log_prob"]


def taylor_exp(u: torch.Tensor, terms: int) -> torch.Tensor:
    """The first ``terms`` terms of exp's Taylor series, 1 + u + u**2/2! + ... (``terms`` >= 1),
    each term built from the last (u**k / k!), so no factorial overflows."""
    total, term = torch.ones_like(u), torch.ones_like(u)
    for k in range(1, terms):
        term = term * u / k
        total = total + term
    return total


def taylor_soft_margin(logits: torch.Tensor, y: torch.Tensor, temperature: float,
                       margin: float, terms: int) -> torch.Tensor:
    """RMIA's signal for its CIFAR set-ups (Zarifzadeh et al. 2024, as in their released
    code): a softmax of the logits / ``temperature`` in which exp is replaced by its first
    ``terms`` Taylor terms and the true class's logit is lowered by ``margin`` first:
    T(z_y - m) / (T(z_y - m) + sum_{j != y} T(z_j)). Works on (..., N, C) logits."""
    z = logits.double() / temperature
    index = y.expand(*z.shape[:-1]).unsqueeze(-1)
    true = taylor_exp(z.gather(-1, index).squeeze(-1) - margin, terms)
    others = taylor_exp(z, terms).scatter(-1, index, 0.0).sum(-1)
    return true / (true + others)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy of the softmax (nats)."""
    log_probs = F.log_softmax(logits.double(), dim=-1)
    return -(log_probs.exp() * log_probs).sum(-1)


def modified_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Song & Mittal's label-aware entropy: low when the true class is confident, high when a
    wrong class is."""
    log_p = F.log_softmax(logits.double(), dim=-1)
    p = log_p.exp()
    log_1mp = torch.log1p(-p.clamp(max=1 - 1e-12))
    onehot = F.one_hot(y, logits.shape[-1]).bool()
    true_term = -(1 - p) * log_p
    wrong_term = -p * log_1mp
    return torch.where(onehot, true_term, wrong_term).sum(-1)


def rank_auc(scores: torch.Tensor, is_member: torch.Tensor) -> float:
    """Mann-Whitney AUC of ``scores`` (higher = member), ties counting one half."""
    s, member = scores.double(), is_member.bool()
    _, inverse, counts = torch.unique(s, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    ranks = ((ends - counts + 1 + ends) / 2)[inverse]  # 1-based average rank of each tie
    n1, n0 = int(member.sum()), int((~member).sum())
    return float((ranks[member].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
