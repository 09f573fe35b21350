"""The recipe's augmentation, optimizer and schedule: exact transforms, seeded, and routed
away from the batched path that does not implement them."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from mia_core import ConfigError, LabeledData, TrainEnv, TrainRecipe, fit_classifier
from mia_core.training.augment import augment_batch, augment_generator
from mia_core.training.fit import seeded


def test_flip_mirrors_exactly_the_drawn_images():
    x = torch.arange(4 * 2 * 6 * 6, dtype=torch.float32).view(4, 2, 6, 6)
    generator = augment_generator(5)
    flips = torch.rand(4, generator=augment_generator(5)) < 0.5
    out = augment_batch(x, "flip", generator)
    for i in range(4):
        expected = x[i].flip(-1) if flips[i] else x[i]
        assert torch.equal(out[i], expected)
    assert flips.any() and not flips.all()  # this seed draws both kinds


def test_crop_is_a_window_of_the_reflect_padded_image():
    x = torch.randn(16, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    out = augment_batch(x, "crop-flip", augment_generator(1))
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    for i in range(16):
        windows = [padded[i, :, dy:dy + 12, dx:dx + 12] for dy in range(9) for dx in range(9)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)
    assert not torch.equal(out, x)


def test_augmentation_is_seeded_and_keeps_memory_format():
    x = torch.randn(8, 3, 12, 12).contiguous(memory_format=torch.channels_last)
    a = augment_batch(x, "crop-flip", augment_generator(3))
    b = augment_batch(x, "crop-flip", augment_generator(3))
    c = augment_batch(x, "crop-flip", augment_generator(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.is_contiguous(memory_format=torch.channels_last)
    flat = torch.randn(8, 5)
    assert augment_batch(flat, "crop-flip", augment_generator(3)) is flat  # not an image


def _images():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(40) % 2
    return LabeledData(torch.randn(40, 1, 12, 12, generator=g), y, 2)


def _fit(recipe, seed=1):
    with seeded(seed):
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 2))
    return fit_classifier(model, _images(), recipe, TrainEnv(torch.device("cpu"), seed))


def test_augmented_training_is_bit_identical_per_seed_and_differs_from_plain():
    recipe = TrainRecipe(2, 8, 0.01, augment="crop-flip", precision="fp32")
    first, second = _fit(recipe), _fit(recipe)
    plain = _fit(TrainRecipe(2, 8, 0.01, precision="fp32"))
    assert torch.equal(first[1].weight, second[1].weight)
    assert not torch.equal(first[1].weight, plain[1].weight)


def test_sgd_with_cosine_schedule_differs_from_adam():
    sgd = _fit(TrainRecipe(2, 8, 0.05, optimizer="sgd", schedule="cosine", precision="fp32"))
    adam = _fit(TrainRecipe(2, 8, 0.05, precision="fp32"))
    assert not torch.equal(sgd[1].weight, adam[1].weight)
    recipe = TrainRecipe(3, 8, 0.1, optimizer="sgd", schedule="cosine")
    optimizer = recipe.make_optimizer([torch.nn.Parameter(torch.zeros(1))])
    schedule = recipe.make_schedule(optimizer, 10)
    for _ in range(10):
        optimizer.step()
        schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert optimizer.param_groups[0]["nesterov"] and optimizer.param_groups[0]["momentum"] == 0.9


def test_only_plain_recipes_are_batched():
    assert TrainRecipe(1, 8, 0.1).plain
    for change in ({"augment": "flip"}, {"optimizer": "sgd"}, {"schedule": "cosine"}):
        assert not TrainRecipe(1, 8, 0.1, **change).plain
    from mia_core.training.batched import fit_classifiers_batched

    with pytest.raises(ConfigError, match="only plain recipes"):
        fit_classifiers_batched([torch.nn.Linear(2, 2)], [_images()],
                                TrainRecipe(1, 8, 0.1, augment="flip"), [0],
                                torch.device("cpu"))


def test_augmentation_with_dp_is_refused_when_the_recipe_is_made():
    with pytest.raises(ConfigError, match="augment=crop-flip is not supported with DP-SGD"):
        TrainRecipe(1, 8, 0.1, augment="crop-flip", dp_epsilon=8.0, dp_delta=1e-5)
