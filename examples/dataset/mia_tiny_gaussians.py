"""A dataset plugin: 8-dimensional Gaussian clusters, one per class."""

import attrs
import torch

from mia_core import LabeledData, LoadEnv, hookimpl, option, positive


@attrs.frozen
class Options:
    records: int = option(4000, "how many records to generate", positive)
    classes: int = option(3, "number of classes (clusters)", positive)


class TinyGaussians:
    def __init__(self, options: Options):
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        g = torch.Generator().manual_seed(0)  # the same records on every run
        centres = 2 * torch.randn(self.options.classes, 8, generator=g)
        y = torch.randint(0, self.options.classes, (self.options.records,), generator=g)
        x = centres[y] + torch.randn(self.options.records, 8, generator=g)
        return LabeledData(x, y, num_classes=self.options.classes)


@hookimpl
def register_datasets(register):
    register("tiny-gaussians", TinyGaussians, description="Gaussian clusters in 8 dimensions",
             options=Options)
