"""Query augmentations: which views a run gets, what each view does to an image, and LiRA /
RMIA averaging over views exactly as over separate single-view attacks."""

from __future__ import annotations

import pytest
import torch

from mia_core import IDENTITY, LabeledData, QueryAugmentation, image_augmentations, shifted
from mia_core.errors import ConfigError, PluginError
from mia_core.queries import augmentations_for
from mia_torch_attack.lira import Lira, LiraOptions
from mia_torch_attack.rmia import Rmia, RmiaOptions

from .test_attack_math import binary_logits, population_ctx, prob_logits

IMAGES = LabeledData(torch.rand(3, 1, 8, 8), torch.tensor([0, 1, 0]), 2)
TABLE = LabeledData(torch.rand(3, 5), torch.tensor([0, 1, 0]), 2)


class Declares:
    def __init__(self, *views):
        self.views = views

    def query_augmentations(self):
        return self.views


FLIP_ONLY = QueryAugmentation("flip", lambda x: x.flip(-1))


def test_images_get_the_flip_and_shifts_by_default_and_tables_only_themselves():
    views = augmentations_for(object(), object(), IMAGES)
    assert len(views) == 18 and views[0] is IDENTITY and views[1].name == "flip"
    assert len({v.name for v in views}) == 18
    assert augmentations_for(object(), object(), TABLE) == (IDENTITY,)


def test_the_targets_declaration_wins_over_the_datasets():
    assert augmentations_for(Declares(FLIP_ONLY), Declares(), IMAGES) == (IDENTITY, FLIP_ONLY)
    assert augmentations_for(object(), Declares(), IMAGES) == (IDENTITY,)  # declared: none
    with pytest.raises(PluginError, match="the dataset's query_augmentations"):
        augmentations_for(object(), Declares("flip"), IMAGES)


def test_views_move_pixels_as_named():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    down = shifted(x, 1, 0)
    assert torch.equal(down[0, 0, 1:], x[0, 0, :3])  # row r moved to row r + 1
    assert torch.equal(down[0, 0, 0], x[0, 0, 1])  # the border reflected
    views = {v.name: v for v in image_augmentations(max_shift=1)}
    assert torch.equal(views["flip"](x), x.flip(-1))
    assert torch.equal(views["shift(0,-1)+flip"](x), shifted(x.flip(-1), 0, -1))
    assert not any("flip" in v.name for v in image_augmentations(flip=False))
    assert len(image_augmentations(flip=False, max_shift=2)) == 8


def test_mnist_declares_shifts_but_no_mirror_images():
    from mia_mnist_data.plugin import FashionMnist, Mnist, MnistOptions

    views = Mnist(MnistOptions()).query_augmentations()
    assert len(views) == 8 and not any("flip" in v.name for v in views)
    assert any("flip" in v.name for v in FashionMnist(MnistOptions()).query_augmentations())


def test_asking_for_more_views_than_the_data_has_is_one_line():
    ctx = population_ctx([binary_logits([1, 2], [0, 1])] * 2, [[True, False], [False, True]],
                         binary_logits([1, 2], [0, 1]), [0, 1], n_pop=1)
    with pytest.raises(ConfigError, match=r"asked for 2 queries per record, but these records "
                       r"have 1 views \(identity\); use -o under-test.queries=1 or fewer"):
        Lira(LiraOptions(queries=2)).score(ctx)


# Four records (two population, two evaluation), then the same four seen through the "plus"
# view: a lookup model answers row i + 4 for input i + 4, so each view has its own table.
Y = [0, 1, 0, 1]
IN = [[True, False, True, False], [False, True, True, True], [True, False, False, True],
      [False, True, False, False]]
PLUS = QueryAugmentation("plus", lambda x: x + 4)
SAME = QueryAugmentation("same", lambda x: x.clone())
REF = [[0.3, 1.0, 4.0, 1.0], [2.0, -1.0, 2.0, 3.0], [1.0, 0.5, 0.0, 5.0], [0.0, 2.0, 1.0, 2.0]]
REF_PLUS = [[1.0, 0.0, 3.0, 2.0], [0.5, 1.0, 2.5, 2.0], [2.0, 1.5, 0.5, 4.0],
            [1.0, 1.0, 1.5, 1.0]]
TARGET, TARGET_PLUS = [0.0, 0.0, 3.0, 1.5], [0.0, 0.0, 2.0, 2.5]


def lira_ctx(ref, target, views=(IDENTITY,)):
    return population_ctx([binary_logits(r, Y * (len(r) // 4)) for r in ref], IN, binary_logits(
        target, Y * (len(target) // 4)), Y, n_pop=2, augmentations=views)


@pytest.mark.parametrize("mode", ["online", "offline"])
@pytest.mark.parametrize("variance", ["per-example", "global"])
def test_lira_with_only_identical_views_is_plain_lira(mode, variance):
    plain = Lira(LiraOptions(mode=mode, variance=variance)).score(lira_ctx(REF, TARGET))
    twice = Lira(LiraOptions(mode=mode, variance=variance, queries=2)).score(
        lira_ctx(REF, TARGET, (IDENTITY, SAME)))
    assert torch.equal(plain, twice)


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_lira_over_two_views_is_the_mean_of_each_views_lira(mode):
    both = [[*r, *p] for r, p in zip(REF, REF_PLUS, strict=True)]
    scores = Lira(LiraOptions(mode=mode, queries=2)).score(
        lira_ctx(both, [*TARGET, *TARGET_PLUS], (IDENTITY, PLUS)))
    first = Lira(LiraOptions(mode=mode)).score(lira_ctx(REF, TARGET))
    second = Lira(LiraOptions(mode=mode)).score(lira_ctx(REF_PLUS, TARGET_PLUS))
    assert not torch.allclose(first, second)
    assert torch.allclose(scores, (first + second) / 2, atol=1e-12)


def test_rmia_over_two_views_uses_the_mean_probability():
    g = torch.Generator().manual_seed(0)
    ref, ref_plus = torch.rand(4, 4, generator=g), torch.rand(4, 4, generator=g)
    target, target_plus = torch.rand(4, generator=g), torch.rand(4, generator=g)
    labels = [0] * 4

    def ctx(refs, tgt, views):
        return population_ctx([prob_logits(r) for r in refs], IN, prob_logits(tgt), labels,
                              n_pop=2, augmentations=views)

    options = {"a": 0.5, "comparisons": 2, "gamma": 0.8}
    scores = Rmia(RmiaOptions(queries=2, **options)).score(
        ctx(torch.cat([ref, ref_plus], 1), torch.cat([target, target_plus]),
            (IDENTITY, PLUS))).scores
    mean = Rmia(RmiaOptions(**options)).score(
        ctx((ref + ref_plus) / 2, (target + target_plus) / 2, (IDENTITY,))).scores
    assert torch.allclose(scores, mean)


def test_a_run_queries_views_and_says_what_rmia_chose():
    from mia_core.results.summary import format_summary
    from mia_core.testing import run

    common = dict(dataset="tiny-images", members=60, reference_models=4)
    result = run(attacks=["lira", "rmia"], **common, options={
        "target": {"epochs": 2}, "lira": {"queries": 3}, "rmia": {"queries": 2}})
    rmia = result.to_dict()["attacks"][1]
    assert rmia["details"]["mode"] == "offline" and 0 <= rmia["details"]["a"] <= 1
    assert rmia["details"]["a_chosen_by"].startswith("reference model 0 as the target")
    assert f"rmia: mode offline, a {rmia['details']['a']:.4g}, a_chosen_by " in \
        format_summary(result)
    with pytest.raises(ConfigError) as bad:
        run(attacks=["lira"], options={"target": {"epochs": 2}, "lira": {"queries": 19}},
            **common)
    assert str(bad.value) == (
        "attack 'lira' asked for 19 queries per record, but these records have 18 "
        "views (identity, flip, shift(1,0), shift(1,0)+flip, shift(-1,0), shift(-1,0)+flip, "
        "shift(0,1), shift(0,1)+flip, shift(0,-1), shift(0,-1)+flip, shift(2,0), "
        "shift(2,0)+flip, shift(-2,0), shift(-2,0)+flip, shift(0,2), shift(0,2)+flip, "
        "shift(0,-2), shift(0,-2)+flip); use -o lira.queries=18 or fewer")
