"""Training-time augmentation of image batches: random crops and horizontal flips.

The CIFAR setups of LiRA and RMIA train with both, and an attack's strength depends on it.
Each batch is transformed in one gather (no per-image Python loop), with offsets and flips
drawn from a generator of its own, seeded from the model's seed: the same seed gives the same
augmented batches, so augmented training stays bit-identical on one machine.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

PAD = 4  # pixels of reflect padding before a random crop back to the original size


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """``x`` (N, C, H, W) randomly flipped (``flip``) or cropped and flipped (``crop-flip``);
    other shapes and ``none`` are returned as they are."""
    if kind == "none" or x.dim() != 4 or len(x) == 0:
        return x
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    pad = PAD if kind == "crop-flip" and h > 2 * PAD and w > 2 * PAD else 0
    if pad:
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    else:
        dy = dx = torch.zeros(n, dtype=torch.int64)
    cols = torch.arange(w)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]  # (N, W)
    rows = torch.arange(h)[None, :] + dy[:, None]  # (N, H)
    device = x.device
    batch = torch.arange(n, device=device)[:, None, None]
    out = x.permute(0, 2, 3, 1)[batch, rows.to(device)[:, :, None], cols.to(device)[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous(memory_format=_format_of(x))


def augment_generator(seed: int) -> torch.Generator:
    """The augmentation's own generator: draws do not shift the data order's."""
    return torch.Generator().manual_seed((seed * 2654435761 + 97) % (2**63))


def _format_of(x: torch.Tensor) -> torch.memory_format:
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
