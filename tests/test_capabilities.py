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


def test_a_flag_is_a_capability_only_with_its_declared_value():
    from mia_core import ReferenceFreeAttack, TrainlessTarget
    from mia_core.training.targets import trains

    class Frozen(Builds):
        trains = False

    class Says(Builds):
        trains = True

    class Zero(Builds):
        trains = 0  # falsy, but not the declared False

    assert capable(Frozen(), TrainlessTarget) and not trains(Frozen())
    assert not capable(Says(), TrainlessTarget) and trains(Says())
    assert not capable(Zero(), TrainlessTarget) and not capable(Builds(), TrainlessTarget)
    assert trains(Builds())  # no flag: it trains

    class Regressor:
        needs_reference_models = False

    assert capable(Regressor(), ReferenceFreeAttack)
    assert not capable(object(), ReferenceFreeAttack)


def test_a_flag_with_another_value_is_refused_at_registration():
    """``trains = "no"`` would otherwise be read as "it trains": the plugin is refused when
    it registers, naming the flag and its values."""
    import pytest

    from mia_core import PluginError, ThreatModel, hookimpl
    from mia_core.testing import run

    class Bad(Builds):
        trains = "no"

    class Loose:
        threat_model = ThreatModel.POPULATION
        needs_reference_models = 0

        def score(self, ctx):
            return torch.zeros(len(ctx.evaluation))

    for kind, cls, flag in (("targets", Bad, "trains = 'no'"),
                            ("attacks", Loose, "needs_reference_models = 0")):
        class Plugin:
            @staticmethod
            @hookimpl(specname=f"register_{kind}")
            def register(register, cls=cls):
                register("bad-one", cls)

        with pytest.raises(PluginError, match=rf"{flag}, which is neither False nor True; "
                           r"\w+ = False declares (TrainlessTarget|ReferenceFreeAttack), "
                           "or leave it out"):
            run(("bad-plugin", Plugin), dataset="tiny-images",
                target="bad-one" if kind == "targets" else "cnn",
                attacks=["bad-one"] if kind == "attacks" else ["loss-threshold"])
