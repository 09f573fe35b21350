"""Query augmentations: label-preserving views of a record that attacks query models with.

LiRA and RMIA judge a record more reliably from several views of it (the record, its mirror
image, its shifts) than from the record alone, and the papers average the per-view statistic
(Carlini et al. 2022 use 2 to 18 views on CIFAR-10). Which views keep a record's label depends
on the data: a mirrored digit is another digit, a shifted row of a table is nonsense. So a
dataset or target declares its views with ``query_augmentations()`` (the target's declaration
wins: it knows what its training made it ignore); otherwise images (N, C, H, W) get the flip
and the shifts of 1 and 2 pixels, and any other record only itself. The record itself is
always the first view, so one query per record is the plain attack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import attrs
import torch
from torch.nn import functional as F

from mia_core.capabilities import capable
from mia_core.data import LabeledData
from mia_core.errors import PluginError, call_plugin


@attrs.frozen
class QueryAugmentation:
    """One deterministic view: ``view(x)`` maps a batch of inputs to the same batch seen
    another way (labels unchanged). ``name`` says which, in messages and caches."""

    name: str
    apply: Callable[[torch.Tensor], torch.Tensor] = attrs.field(eq=False, repr=False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x)


IDENTITY = QueryAugmentation("identity", lambda x: x)


@runtime_checkable
class AugmentingComponent(Protocol):
    """A dataset or target that says which views keep its labels (besides the record)."""

    def query_augmentations(self) -> Sequence[QueryAugmentation]: ...


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Images moved by (dy, dx) pixels, the uncovered border filled by reflection (as the
    papers' random crops of a reflect-padded image)."""
    if dy == dx == 0:
        return x
    pad = max(abs(dy), abs(dx))
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    h, w = x.shape[-2:]
    return padded[..., pad - dy:pad - dy + h, pad - dx:pad - dx + w]


def _view(dy: int, dx: int, flip: bool) -> QueryAugmentation:
    name = "+".join(([f"shift({dy},{dx})"] if dy or dx else []) + (["flip"] if flip else []))
    return QueryAugmentation(name, lambda x: shifted(x.flip(-1) if flip else x, dy, dx))


def image_augmentations(flip: bool = True, max_shift: int = 2) -> tuple[QueryAugmentation, ...]:
    """The views of images besides the record, nearest first: the mirror image, then shifts
    by 1 to ``max_shift`` pixels in each direction (each also mirrored when ``flip``); with
    the defaults, 17 views, so 18 queries a record as in Carlini et al."""
    flips = (False, True) if flip else (False,)
    views = [_view(0, 0, True)] if flip else []
    for s in range(1, max_shift + 1):
        for dy, dx in ((s, 0), (-s, 0), (0, s), (0, -s)):
            views += [_view(dy, dx, f) for f in flips]
    return tuple(views)


def _declared(component: object, who: str) -> tuple[QueryAugmentation, ...] | None:
    if not capable(component, AugmentingComponent):
        return None
    views = tuple(call_plugin(who, component, "query_augmentations"))
    if not all(isinstance(v, QueryAugmentation) for v in views):
        raise PluginError(f"{who}'s query_augmentations() must return "
                          "mia_core.QueryAugmentation values")
    return views


def augmentations_for(target: object, dataset: object, data: LabeledData,
                      names: tuple[str, str] = ("the target", "the dataset"),
                      ) -> tuple[QueryAugmentation, ...]:
    """The run's views: the record itself, then the target's declared views, else the
    dataset's, else the default for the records' shape."""
    declared = _declared(target, names[0])
    if declared is None:
        declared = _declared(dataset, names[1])
    if declared is None:
        declared = image_augmentations() if data.x.dim() == 4 and min(data.x.shape[-2:]) >= 4 \
            else ()
    return (IDENTITY, *declared)
