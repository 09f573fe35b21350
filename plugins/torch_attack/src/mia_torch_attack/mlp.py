"""The small attack network shared by the learned attacks, and how it is trained."""

from __future__ import annotations

import attrs
import torch
from torch import nn

from mia_core import (
    AttackContext,
    LabeledData,
    TrainEnv,
    TrainRecipe,
    fit_classifier,
    option,
    positive,
    predict_logits,
)


@attrs.frozen
class MlpTraining:
    """Options every learned attack shares (subclasses add their own)."""

    hidden: int = option(64, "width of the first hidden layer", positive)
    epochs: int = option(50, "training epochs of the attack model", positive)
    batch_size: int = option(128, "mini-batch size", positive)
    lr: float = option(1e-3, "Adam learning rate", positive)


def mlp(inputs: int, hidden: int) -> nn.Module:
    """inputs -> hidden -> hidden/2 -> 2 logits (non-member, member), ReLU between."""
    half = max(hidden // 2, 1)
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, half),
                         nn.ReLU(), nn.Linear(half, 2))


def fit_and_score(x: torch.Tensor, member: torch.Tensor, eval_x: torch.Tensor,
                  training: MlpTraining, ctx: AttackContext, label: str) -> torch.Tensor:
    """Train an attack MLP on features ``x`` labelled ``member``; P(member) for ``eval_x``.

    Features are standardised with the training set's statistics (the attacker's data only).
    """
    if len(eval_x) == 0:
        return torch.empty(0, dtype=torch.float64)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    model = mlp(x.shape[1], training.hidden)
    recipe = TrainRecipe(training.epochs, training.batch_size, training.lr, precision="fp32",
                         channels_last=False)
    fit_classifier(model, LabeledData((x - mean) / std, member.long(), 2), recipe,
                   TrainEnv(ctx.device, ctx.seed, ctx.progress), label=label)
    logits = predict_logits(model, (eval_x - mean) / std, ctx.device)
    return torch.softmax(logits.double(), dim=1)[:, 1]
