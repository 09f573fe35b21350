"""Two tiny synthetic datasets for plugin tests (``mia_core.testing`` loads this plugin).

``tiny-images``: one-channel class blobs for image targets such as ``cnn``; ``tiny-vectors``:
Gaussian clusters. Both have options ``size``, ``classes``, ``noise`` and ``seed``.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch

from mia_core.data import LabeledData, LoadEnv
from mia_core.hookspecs import hookimpl
from mia_core.options import option, positive


def tiny_images(size: int = 600, classes: int = 2, noise: float = 1.0, seed: int = 0,
                side: int = 16) -> LabeledData:
    """``size`` one-channel ``side`` x ``side`` images: a random mean image per class plus
    Gaussian noise. A small CNN overfits them in a few epochs."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, 1, side, side, generator=g)
    y = torch.randint(0, classes, (size,), generator=g)
    return LabeledData(means[y] + noise * torch.randn(size, 1, side, side, generator=g), y,
                       classes)


def tiny_vectors(size: int = 600, classes: int = 2, noise: float = 1.0, seed: int = 0,
                 features: int = 8) -> LabeledData:
    """``size`` vectors of ``features`` numbers: one Gaussian cluster per class."""
    g = torch.Generator().manual_seed(seed)
    means = 2 * torch.randn(classes, features, generator=g)
    y = torch.randint(0, classes, (size,), generator=g)
    return LabeledData(means[y] + noise * torch.randn(size, features, generator=g), y, classes)


@attrs.frozen
class TinyOptions:
    size: int = option(600, "number of records", positive)
    classes: int = option(2, "number of classes", positive)
    noise: float = option(1.0, "noise around each class mean", positive)
    seed: int = option(0, "seed of the records")


class _Tiny:
    def __init__(self, make: Any, options: TinyOptions) -> None:
        self._make, self.options = make, options

    def load(self, env: LoadEnv) -> LabeledData:
        o = self.options
        return self._make(o.size, o.classes, o.noise, o.seed)


@hookimpl
def register_datasets(register: Any) -> None:
    register("tiny-images", lambda o: _Tiny(tiny_images, o),
             description="Synthetic 16x16 class blobs (mia_core.testing)",
             options=TinyOptions)
    register("tiny-vectors", lambda o: _Tiny(tiny_vectors, o),
             description="Synthetic Gaussian clusters (mia_core.testing)",
             options=TinyOptions)
