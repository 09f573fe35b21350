"""A target plugin: a small MLP for flat feature vectors."""

import attrs
from torch import nn

from mia_core import LabeledData, TrainEnv, TrainRecipe, fit_classifier, hookimpl, option, positive


@attrs.frozen
class Options:
    hidden: int = option(64, "hidden units", positive)
    epochs: int = option(20, "training epochs", positive)


class TinyMlp:
    def __init__(self, options: Options):
        self.options = options

    def build(self, data: LabeledData) -> nn.Module:
        """Optional: lets the core rebuild the model to load cached weights."""
        return nn.Sequential(nn.Linear(data.x.shape[1], self.options.hidden), nn.ReLU(),
                             nn.Linear(self.options.hidden, data.num_classes))

    def fit(self, data: LabeledData, env: TrainEnv) -> nn.Module:
        recipe = TrainRecipe(epochs=self.options.epochs, batch_size=64, lr=1e-3)
        return fit_classifier(self.build(data), data, recipe, env, label="tiny-mlp")


@hookimpl
def register_targets(register):
    register("tiny-mlp", TinyMlp, description="Two-layer MLP", options=Options)
