"""The seed target and attack: architecture, reproducibility, and that the attack works."""

import torch
from torch.nn import functional as F

from mia_cnn_target.plugin import CnnOptions, CnnTarget, LeNet
from mia_core import LabeledData, TrainEnv
from mia_core.catalog.loading import load_catalog
from mia_core.config import ExperimentConfig
from mia_core.experiment.run import run_experiment


def test_lenet_matches_the_demo_architecture():
    model = LeNet()
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(20, 1, 5, 5), (20,), (50, 20, 5, 5), (50,), (500, 800), (500,),
                      (10, 500), (10,)]
    x = torch.randn(8, 1, 28, 28)
    demo_order = F.max_pool2d(F.relu(model.conv1(x)), 2)  # the demo: ReLU, then pool
    demo_order = F.max_pool2d(F.relu(model.conv2(demo_order)), 2)
    expected = model.fc2(F.relu(model.fc1(demo_order.flatten(1))))
    torch.testing.assert_close(model(x), expected)  # logits, no softmax inside


def test_training_is_bit_identical_for_a_seed():
    g = torch.Generator().manual_seed(0)
    data = LabeledData(torch.randn(300, 1, 28, 28, generator=g),
                       torch.randint(0, 10, (300,), generator=g), 10)
    target = CnnTarget(CnnOptions(epochs=2, batch_size=64))

    def train(seed):
        torch.manual_seed(seed)
        return target.fit(data, TrainEnv(torch.device("cpu"), seed)).state_dict()

    a, b, c = train(1), train(1), train(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["fc2.weight"], c["fc2.weight"])


def run_blobs(attack, members, epochs, target_seed_data=None):
    config = ExperimentConfig(dataset="blobs", target="cnn", attacks=(attack,), members=members,
                              device="cpu",
                              options={"target": {"epochs": str(epochs), "batch_size": "32"},
                                       "dataset": {"size": "2000", "noise": "3.0"}})
    result, _ = run_experiment(config, load_catalog())
    return result


def test_mlp_attack_separates_members_of_an_overfit_target():
    result = run_blobs("torch-mlp", members=200, epochs=40)
    assert result.target_train_accuracy == 1.0
    assert result.target_train_accuracy - result.target_test_accuracy > 0.2  # overfit
    assert result.attacks[0].metrics.auc > 0.65
