"""The one divergence check shared by every training loop (plain, DP-SGD, batched)."""

from __future__ import annotations

import torch

from mia_core.errors import TrainingDiverged


def stop_if_diverged(loss: torch.Tensor, where: str, lr: float) -> None:
    """Stop at the first non-finite loss: every later step would only spread it."""
    if not torch.isfinite(loss).all():
        raise TrainingDiverged(f"training stopped: the loss became {float(loss.detach().max())} "
                               f"{where} (non-finite inputs, or too high a learning rate: "
                               f"lr={lr})")
