"""Records held as tensors, and what a dataset plugin is given to load them.

A record need not be a labelled, fixed-shape float tensor: :class:`Records` holds any tensor
with one row per record (padded where records differ in length, ``lengths`` saying how long
each really is) and, optionally, class labels. :class:`LabeledData` is the classifiers' case:
every record has a label below ``num_classes``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import attrs
import torch

from mia_core.errors import DataError
from mia_core.progress import Progress


@attrs.frozen(eq=False)
class Records:
    """``x[i]`` is record i as the target's models take it (any dtype; padded to one shape
    when records differ in length). Optional: ``y[i]``, its class (int64, below
    ``num_classes``), and ``lengths[i]``, how much of ``x[i]`` along dim 1 is the record
    (int64; the rest is padding)."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    num_classes: int | None = None
    lengths: torch.Tensor | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        n = self.x.shape[0] if self.x.dim() else 0
        if self.x.dim() == 0:
            raise DataError("records must be a tensor with one row per record, got a scalar")
        if (self.y is None) != (self.num_classes is None):
            raise DataError("labels and num_classes go together: give both or neither")
        if self.y is not None:
            if n != self.y.shape[0]:
                raise DataError(f"data has {n} inputs but {self.y.shape[0]} labels")
            if self.y.dtype != torch.int64 or self.y.dim() != 1:
                raise DataError(
                    f"labels must be a 1-D int64 tensor, got {self.y.dtype} {self.y.dim()}-D"
                )
            assert self.num_classes is not None
            if len(self.y) and not (int(self.y.min()) >= 0
                                    and int(self.y.max()) < self.num_classes):
                raise DataError(f"labels must lie in [0, {self.num_classes})")
        if self.lengths is not None:
            self._check_lengths(n)

    def _check_lengths(self, n: int) -> None:
        lengths = self.lengths
        assert lengths is not None
        if lengths.dtype != torch.int64 or tuple(lengths.shape) != (n,):
            raise DataError(f"lengths must be an int64 tensor of shape ({n},), one per record; "
                            f"got {lengths.dtype} {tuple(lengths.shape)}")
        longest = self.x.shape[1] if self.x.dim() > 1 else 0
        if n and (int(lengths.min()) < 1 or int(lengths.max()) > longest):
            raise DataError(f"lengths must lie in [1, {longest}] (the padded length of x)")

    @property
    def labelled(self) -> bool:
        """Whether every record has a class label."""
        return self.y is not None

    def __len__(self) -> int:
        return self.x.shape[0]

    def fingerprint(self) -> str:
        """SHA-256 of every record, label, length and the class count: a changed record (new
        data files, a new release) changes it, so the model cache never returns a model
        trained on others."""
        digest = hashlib.sha256(f"{self.num_classes}".encode())
        parts = [self.x] + [t for t in (self.y, self.lengths) if t is not None]
        if self.lengths is not None:
            digest.update(b"|lengths")
        for t in parts:
            data = t.detach().cpu().contiguous()
            digest.update(f"|{data.dtype}:{tuple(data.shape)}|".encode())
            digest.update(memoryview(data.view(torch.uint8).numpy()) if data.numel() else b"")
        return digest.hexdigest()

    def summary(self) -> str:
        """What the model is handed, in one line: the count, each record's dtype and shape,
        the range and mean of the values (ids for integers), the lengths and the classes.
        ``mia describe DATASET`` shows it, so a model of one's own is fed as it was trained."""
        x = self.x
        text = f"{len(self):,} records; each x is {str(x.dtype).removeprefix('torch.')} " \
               f"{tuple(x.shape[1:])}"
        if x.numel() and x.is_floating_point():
            values = x.double()
            text += (f", values {float(values.min()):.4g} to {float(values.max()):.4g} "
                     f"(mean {float(values.mean()):.4g})")
        elif x.numel() and x.dtype != torch.bool:
            text += f", ids {int(x.min())} to {int(x.max())}"
        if self.lengths is not None and len(self):
            text += f", {int(self.lengths.min())} to {int(self.lengths.max())} long"
        if self.num_classes is not None:
            text += f"; y: {self.num_classes} classes"
        return text

    def subset(self, index: torch.Tensor) -> Records:
        """The records at ``index`` (a copy, so a subset never aliases the pool)."""
        return attrs.evolve(self, x=self.x[index],
                            y=None if self.y is None else self.y[index],
                            lengths=None if self.lengths is None else self.lengths[index])

    def with_inputs(self, x: torch.Tensor) -> Records:
        """The same records, labels and lengths with other inputs of the same count (a
        query view of them, say)."""
        return attrs.evolve(self, x=x)

    def then(self, other: Records) -> Records:
        """These records followed by ``other``'s (shaped alike, labelled alike)."""
        if (self.y is None) != (other.y is None) or (self.lengths is None) != (
                other.lengths is None):
            raise DataError("cannot join records with labels or lengths to records without")
        return attrs.evolve(self, x=torch.cat([self.x, other.x]), y=_join(self.y, other.y),
                            lengths=_join(self.lengths, other.lengths))


def _join(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    return None if a is None or b is None else torch.cat([a, b])


@attrs.frozen(eq=False)
class LabeledData(Records):
    """Records every one of which has a class: ``x[i]`` (ready for the model), ``y[i]`` below
    ``num_classes``. What classifier datasets return and :func:`fit_classifier` trains on."""

    y: torch.Tensor = attrs.field(default=None)
    num_classes: int = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.y is None or self.num_classes is None:
            raise DataError("LabeledData needs labels y and num_classes; use Records for "
                            "records without labels")
        super().__attrs_post_init__()


@attrs.frozen
class LoadEnv:
    """Given to ``Dataset.load``: the data folder (``None``: plugin default) and progress."""

    data_dir: Path | None
    progress: Progress
