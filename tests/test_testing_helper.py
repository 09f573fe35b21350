"""mia_core.testing: run plugins that are not installed, tiny datasets, result lookup."""

import pytest
import torch

import mia_core
from mia_core.catalog.loading import load_catalog
from mia_core.errors import PluginError
from mia_core.testing import run, run_with_artifacts, tiny_images, tiny_vectors

from .conftest import loss_attack_module, make_module


def test_run_uses_a_module_that_is_not_installed():
    module = loss_attack_module("mia_test_local_attack", "local-loss")
    result = run(module, dataset="tiny-images", attacks=["local-loss", "loss-threshold"],
                 members=120, options={"target": {"epochs": 15, "batch_size": 32},
                                       "dataset": {"noise": 3.0}})
    assert isinstance(result, mia_core.ExperimentResult)
    mine, builtin = result.attack("local-loss"), result.attack("loss-threshold")
    assert mine.metrics.auc == pytest.approx(builtin.metrics.auc)  # the same signal
    assert mine.metrics.auc > 0.6 and result.split_sizes["members"] == 120
    with pytest.raises(KeyError, match="has local-loss, loss-threshold"):
        result.attack("lira")


def test_run_without_installed_plugins_and_with_a_broken_one():
    module = loss_attack_module("mia_test_local_attack", "local-loss")
    with pytest.raises(mia_core.ConfigError, match="unknown target 'cnn'"):
        run(module, dataset="tiny-vectors", attacks=["local-loss"], installed=False)
    broken = make_module("mia_test_broken", "from mia_core import hookimpl\n\n@hookimpl\n"
                         "def register_attacks(register):\n    raise ValueError('oops')\n")
    with pytest.raises(PluginError, match="mia_test_broken: hook register_attacks raised"):
        run(broken, dataset="tiny-images", attacks=["loss-threshold"])


def test_run_with_artifacts_and_dataset_aware_default_members():
    out = run_with_artifacts(dataset="tiny-images", attacks=["loss-threshold"],
                             options={"target": {"epochs": 1}, "dataset": {"size": 400}})
    assert out.result.config.members == 100  # a quarter of 400, not MNIST's 12,000
    assert len(out.artifacts.split.members) == 100
    assert len(out.artifacts.eval_index) == 100


def test_tiny_datasets_are_seeded_and_shaped():
    a, b = tiny_images(size=50, classes=3, seed=4), tiny_images(size=50, classes=3, seed=4)
    assert torch.equal(a.x, b.x) and a.x.shape == (50, 1, 16, 16) and a.num_classes == 3
    assert not torch.equal(a.x, tiny_images(size=50, classes=3, seed=5).x)
    v = tiny_vectors(size=30, features=5)
    assert v.x.shape == (30, 5) and set(v.y.tolist()) <= {0, 1}


def test_installed_plugin_passed_again_loads_once():
    import mia_example_plugin

    catalog = load_catalog(extra=[("again", mia_example_plugin)])
    assert catalog.get("dataset", "blobs").origin.plugin == "example"
    assert not [p for p in catalog.plugins if p.error]


def test_dataset_can_suggest_its_members():
    suggesting = make_module("mia_test_suggesting", """
from mia_core import LabeledData, hookimpl
from mia_core.testing import tiny_vectors

class Suggests:
    suggested_members = 40
    def load(self, env):
        return tiny_vectors(size=1000)

@hookimpl
def register_datasets(register):
    register("suggests", Suggests)
""")
    local = loss_attack_module("mia_test_local_attack", "local-loss")

    target = make_module("mia_test_linear", """
import torch
from mia_core import TrainRecipe, fit_classifier, hookimpl

class Linear:
    def fit(self, data, env):
        model = torch.nn.Linear(data.x.shape[1], data.num_classes)
        return fit_classifier(model, data, TrainRecipe(1, 16, 0.01), env)

@hookimpl
def register_targets(register):
    register("linear", Linear)
""")
    result = run(suggesting, local, target, dataset="suggests", target="linear",
                     attacks=["local-loss"])
    assert result.split_sizes["members"] == 40
    explicit = run(suggesting, local, target, dataset="suggests", target="linear",
                       attacks=["local-loss"], members=60)
    assert explicit.split_sizes["members"] == 60
