"""Labelled records held as tensors, and what a dataset plugin is given to load them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import attrs
import torch

from mia_core.errors import DataError
from mia_core.progress import Progress


@attrs.frozen(eq=False)
class LabeledData:
    """``x[i]`` is one record (float tensor, ready for the model), ``y[i]`` its class."""

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int

    def __attrs_post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise DataError(f"data has {self.x.shape[0]} inputs but {self.y.shape[0]} labels")
        if self.y.dtype != torch.int64 or self.y.dim() != 1:
            raise DataError(
                f"labels must be a 1-D int64 tensor, got {self.y.dtype} {self.y.dim()}-D"
            )
        if len(self.y) and not (int(self.y.min()) >= 0 and int(self.y.max()) < self.num_classes):
            raise DataError(f"labels must lie in [0, {self.num_classes})")

    def __len__(self) -> int:
        return self.y.shape[0]

    def fingerprint(self) -> str:
        """SHA-256 of every record, label and the class count: a changed record (new data files,
        a new release) changes it, so the model cache never returns a model trained on others."""
        digest = hashlib.sha256(f"{self.num_classes}".encode())
        for t in (self.x, self.y):
            data = t.detach().cpu().contiguous()
            digest.update(f"|{data.dtype}:{tuple(data.shape)}|".encode())
            digest.update(memoryview(data.view(torch.uint8).numpy()) if data.numel() else b"")
        return digest.hexdigest()

    def subset(self, index: torch.Tensor) -> LabeledData:
        """The records at ``index`` (a copy, so a subset never aliases the pool)."""
        return LabeledData(self.x[index], self.y[index], self.num_classes)


@attrs.frozen
class LoadEnv:
    """Given to ``Dataset.load``: the data folder (``None``: plugin default) and progress."""

    data_dir: Path | None
    progress: Progress
