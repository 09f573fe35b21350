"""Batched training of several copies equals training each on its own."""

import pytest
import torch
from torch import nn

from mia_core import LabeledData, TrainEnv, TrainRecipe, fit_classifier
from mia_core.errors import ConfigError
from mia_core.testing import tiny_images
from mia_core.training.batched import fit_classifiers_batched
from mia_core.training.fit import seeded

CPU = torch.device("cpu")


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 7 * 7, 3))


def test_batched_copies_equal_separate_trainings():
    pool = tiny_images(size=200, classes=3, seed=1)
    subsets = [pool.subset(torch.arange(0, 90)), pool.subset(torch.arange(50, 120)),
               pool.subset(torch.arange(100, 200))]  # 90, 70, 100 records: ragged
    recipe = TrainRecipe(3, 32, 0.01, weight_decay=1e-4, precision="fp32", channels_last=False)
    seeds = [11, 12, 13]

    def fresh(seed):
        with seeded(seed):
            return small_cnn()

    separate = [fit_classifier(fresh(s), d, recipe, TrainEnv(CPU, s))
                for s, d in zip(seeds, subsets, strict=True)]
    batched = fit_classifiers_batched([fresh(s) for s in seeds], subsets, recipe, seeds, CPU)
    for one, many in zip(separate, batched, strict=True):
        for (name, a), b in zip(one.state_dict().items(), many.state_dict().values(),
                                strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)
    # and the copies really differ from each other
    assert not torch.allclose(batched[0][0].weight, batched[1][0].weight)
    assert not batched[0].training


def test_batched_training_refuses_what_it_cannot_do():
    data = LabeledData(torch.randn(10, 3), torch.zeros(10, dtype=torch.long), 2)
    plain = TrainRecipe(1, 4, 0.1)
    with pytest.raises(ConfigError):
        fit_classifiers_batched([nn.Linear(3, 2)], [data, data], plain, [0], CPU)
    with pytest.raises(ConfigError, match="DP-SGD"):
        fit_classifiers_batched([nn.Linear(3, 2)], [data], TrainRecipe(
            1, 4, 0.1, dp_epsilon=1.0, dp_delta=1e-5), [0], CPU)
