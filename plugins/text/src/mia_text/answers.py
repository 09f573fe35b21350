"""How a causal language model answers a text record, and the signals of its answers.

The answer to a record of T + 1 tokens is, for each of its T next tokens, three numbers: the
log-probability the model gives the actual token, and the mean and standard deviation of
log p(z) over the model's whole next-token distribution (what Min-K%++ normalises by). The
distribution itself (the vocabulary's logits) is used where it is computed and dropped: a
record's answer is 3 floats per token, never the vocabulary.
"""

from __future__ import annotations

import torch
from torch import nn

from mia_core import Answers, Records

OWN, MEAN, STD, REAL = 0, 1, 2, 3  # each token's answer; REAL only where the model tokenises
BATCH = 64  # records per forward pass


def real_positions(records: Records, width: int) -> torch.Tensor:
    """(N, width) bool: answer positions inside each record (position t predicts token
    t + 1, so a record of length n has n - 1 of them)."""
    assert records.lengths is not None
    return torch.arange(width) < (records.lengths[:, None] - 1)


@torch.no_grad()
def next_token_answers(model: nn.Module, records: Records, device: torch.device) -> torch.Tensor:
    """(N, T, 3) float32 on the CPU: per next token, its log-probability and the mean and
    standard deviation of log p over the vocabulary; 0 past each record's end."""
    assert records.lengths is not None
    model.eval()
    n, width = records.x.shape[0], records.x.shape[1] - 1
    out = torch.zeros(n, max(width, 0), 3)
    for start in range(0, n, BATCH):
        rows = slice(start, start + BATCH)
        longest = int(records.lengths[rows].max())
        x = records.x[rows, :longest].to(device)
        log_p = model(x[:, :-1]).float().log_softmax(-1)
        out[rows, :longest - 1] = token_statistics(log_p, x[:, 1:]).cpu()
    real = real_positions(records, width)
    return out.masked_fill(~real[..., None], 0.0)


def _real_like(answers: torch.Tensor, records: Records) -> torch.Tensor:
    if answers.shape[-1] > REAL:  # the model tokenised the text itself: its answers say
        return answers[..., REAL] > 0.5
    return real_positions(records, answers.shape[-2])


def token_log_probs(answers: torch.Tensor, records: Records) -> torch.Tensor:
    """(..., N, T) float64: each next token's log-probability; NaN past the record's end."""
    own = answers[..., OWN].double()
    return own.masked_fill(~_real_like(answers, records), float("nan"))


def token_zscores(answers: torch.Tensor, records: Records) -> torch.Tensor:
    """(..., N, T) float64: Min-K%++'s per-token score, (log p(x_t) - mu_t) / sigma_t, with mu
    and sigma the mean and standard deviation of log p under the model's next-token
    distribution (Zhang et al. 2024); NaN past the record's end."""
    a = answers.double()
    z = (a[..., OWN] - a[..., MEAN]) / a[..., STD].clamp_min(1e-12)
    return z.masked_fill(~_real_like(answers, records), float("nan"))


def log_likelihood(answers: torch.Tensor, records: Records) -> torch.Tensor:
    """(..., N) float64: the mean log-probability of the record's tokens (minus the loss)."""
    real = _real_like(answers, records).double()
    return (answers[..., OWN].double() * real).sum(-1) / real.sum(-1).clamp_min(1)


def token_statistics(log_p: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(..., 3): each target token's log-probability under ``log_p`` (..., vocabulary), and
    the mean and standard deviation of log p over the vocabulary."""
    p = log_p.exp()
    mean = (p * log_p).sum(-1)
    std = ((p * log_p.square()).sum(-1) - mean.square()).clamp_min(0).sqrt()
    own = log_p.gather(-1, targets[..., None]).squeeze(-1)
    return torch.stack([own, mean, std], -1)


def problem(answers: torch.Tensor, records: Records) -> str | None:
    expected = (len(records), records.x.shape[1] - 1, 3)
    if tuple(answers.shape) != expected:
        return f"its model answers with shape {tuple(answers.shape)}, expected {expected}"
    return log_prob_problem(answers)


def log_prob_problem(answers: torch.Tensor) -> str | None:
    """Why per-token answers are not finite log-probabilities with a spread, or ``None``."""
    if not torch.isfinite(answers).all():
        return "its model's next-token log-probabilities are NaN or infinite"
    if (answers[..., OWN] > 1e-6).any() or (answers[..., STD] < 0).any():
        return "its model's answers are not log-probabilities"
    return None


def accuracy(answers: torch.Tensor, records: Records) -> float:
    """The share of next tokens given more than half the probability: certainly the model's
    top guess, so a lower bound on its next-token accuracy."""
    real = _real_like(answers, records)
    return float((answers[..., OWN][real] > torch.log(torch.tensor(0.5))).double().mean())


# the signals of per-token answers, however the model tokenises
TOKEN_SIGNALS = {"log_likelihood": log_likelihood, "confidence": log_likelihood,
                 "token_log_probs": token_log_probs, "token_zscores": token_zscores}

NEXT_TOKENS = Answers(
    name="next-token log-probabilities of the record's own tokens",
    answer=next_token_answers,
    signals=TOKEN_SIGNALS,
    problem=problem,
    accuracy=accuracy,
)
