"""mia_core.capable: the one test for a component's optional methods and attributes."""

import torch

from mia_core import (
    BuildableTarget,
    CanaryDataset,
    PrivateTarget,
    RecipeTarget,
    SizedDataset,
    TrainRecipe,
    capable,
)


class Builds:
    def fit(self, data, env):
        return torch.nn.Linear(1, 1)

    def build(self, data):
        return torch.nn.Linear(1, 1)


class BuildsWithRecipe(Builds):
    def recipe(self):
        return TrainRecipe(epochs=1, batch_size=8, lr=0.1)


class BuildIsNone(Builds):
    build = None


class Sized:
    def __init__(self, members):
        self.suggested_members = members


def test_methods_must_be_there_and_callable():
    assert capable(Builds(), BuildableTarget)
    assert not capable(BuildIsNone(), BuildableTarget)  # an attribute is no method
    assert not capable(Builds(), RecipeTarget)  # build alone is not build + recipe
    assert capable(BuildsWithRecipe(), RecipeTarget)
    assert not capable(Builds(), PrivateTarget) and not capable(Builds(), CanaryDataset)


def test_attributes_must_be_set():
    assert capable(Sized(5000), SizedDataset)
    assert capable(Sized(0), SizedDataset)  # set, though invalid: the core then says so
    assert not capable(Sized(None), SizedDataset)
    assert not capable(object(), SizedDataset)
