"""Every attack: separates members of an overfit target, scores at chance on the control."""

import pytest

from mia_core.catalog.loading import load_catalog
from mia_core.config import ExperimentConfig
from mia_core.experiment.run import run_experiment

from .conftest import make_module

ATTACKS = ("torch-mlp", "loss-threshold", "confidence-threshold", "entropy-threshold",
           "mentropy-threshold", "shadow-mlp", "lira", "rmia")
# On blobs with 300 members: eval sets of 150 + 150, AUC's standard error is about 0.033.
OPTIONS = {"target": {"epochs": "30", "batch_size": "32"},
           "dataset": {"size": "3000", "noise": "3.0"},
           "lira": {"variance": "global"}}


def experiment(control: bool):
    config = ExperimentConfig(dataset="blobs", target="cnn", attacks=ATTACKS, members=300,
                              device="cpu", reference_models=4, options=OPTIONS,
                              control=control, seed=11)
    result, _ = run_experiment(config, load_catalog())
    return {a.name: a.metrics for a in result.attacks}, result


@pytest.fixture(scope="module")
def overfit():
    return experiment(control=False)


@pytest.fixture(scope="module")
def control():
    return experiment(control=True)


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_separates_members_of_overfit_target(overfit, attack):
    metrics, result = overfit
    assert result.target_train_accuracy - result.target_test_accuracy > 0.15
    assert metrics[attack].auc > 0.65, metrics[attack]
    assert metrics[attack].epsilon_lb > 0.0  # a leaky target: every attack proves some epsilon


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_at_chance_when_target_never_saw_members(control, attack):
    metrics, result = control
    assert result.config.control is True
    assert abs(metrics[attack].auc - 0.5) < 0.12, metrics[attack]
    assert metrics[attack].epsilon_lb < 0.5  # nothing to prove about records never trained on


def test_population_attacks_share_one_set_of_reference_models(overfit):
    _, result = overfit
    assert "train_references" in result.timings
    assert result.models_trained == 1 + 4  # the target, then 4 models for shadow, lira, rmia
    assert result.split_sizes["population"] == 300  # as many as the known records


SPY = """
import torch
from mia_core import ThreatModel, hookimpl

SEEN = {}

class Spy:
    def __init__(self, threat):
        self.threat_model = threat
    def score(self, ctx):
        SEEN[self.threat_model] = ctx
        return torch.zeros(len(ctx.evaluation))

@hookimpl
def register_attacks(register):
    register("spy-known", lambda: Spy(ThreatModel.KNOWN_MEMBERS))
    register("spy-population", lambda: Spy(ThreatModel.POPULATION))
"""


def test_context_exposes_only_what_the_threat_model_allows():
    spy = make_module("spy_plugin", SPY)
    config = ExperimentConfig(dataset="blobs", target="cnn",
                              attacks=("spy-known", "spy-population"), members=100,
                              reference_models=2, options={"target": {"epochs": "1"}})
    run_experiment(config, load_catalog(extra=[("spy", spy)]))
    known = spy.SEEN["known-members"]
    assert known.known is not None and known.population is None and known.references is None
    assert len(known.known.data) == 100 and int(known.known.is_member.sum()) == 50
    assert not hasattr(known.target, "model") and not hasattr(known, "split")
    pop = spy.SEEN["population"]
    assert pop.known is None and len(pop.population) == 100
    assert pop.reference_models() is pop.reference_models()  # trained once, shared
    eval_x = {tuple(r.flatten().tolist()[:5]) for r in pop.evaluation.x}
    pop_x = {tuple(r.flatten().tolist()[:5]) for r in pop.population.x}
    assert not eval_x & pop_x
