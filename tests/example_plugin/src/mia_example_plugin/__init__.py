"""An out-of-tree mia-core plugin, installed like any third-party package.

Provides a small synthetic dataset (``blobs``: class-dependent Gaussian images, so a model can
learn it in seconds) and a coin-flip attack (``coin-flip``), the chance-level control.
"""

from __future__ import annotations

import attrs
import torch

from mia_core import AttackContext, LabeledData, LoadEnv, ThreatModel, hookimpl, option, positive


@attrs.frozen
class BlobOptions:
    size: int = option(2000, "number of records", positive)
    classes: int = option(4, "number of classes", positive)
    noise: float = option(1.5, "pixel noise around each class's mean image", positive)


class Blobs:
    def __init__(self, options: BlobOptions) -> None:
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        o = self.options
        g = torch.Generator().manual_seed(1234)
        means = torch.randn(o.classes, 1, 16, 16, generator=g)
        y = torch.randint(0, o.classes, (o.size,), generator=g)
        x = means[y] + o.noise * torch.randn(o.size, 1, 16, 16, generator=g)
        return LabeledData(x, y, o.classes)


class CoinFlip:
    threat_model = ThreatModel.KNOWN_MEMBERS

    def score(self, ctx: AttackContext) -> torch.Tensor:
        return torch.rand(len(ctx.evaluation), generator=ctx.generator())


@hookimpl
def register_datasets(register):
    register("blobs", Blobs, description="Synthetic 16x16 Gaussian blobs", options=BlobOptions)


@hookimpl
def register_attacks(register):
    register("coin-flip", CoinFlip, description="Random scores: the chance-level control")
