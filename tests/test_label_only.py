"""The label-only threat model: the target answers predicted labels only, and the gap and
augmentation attacks find members of an overfit target from labels alone."""

from __future__ import annotations

import pytest
import torch

from mia_core import AttackContext, LabeledData, PluginError, ThreatModel, hookimpl
from mia_core import shifted as shift_images
from mia_core.context import LabelOracle
from mia_core.testing import run
from mia_torch_attack.label_only import AugmentationOptions, perturbations

OVERFIT = dict(dataset="tiny-images", members=150,
               options={"target": {"epochs": 20, "batch_size": 32}, "dataset": {"noise": 8.0}})


@pytest.mark.parametrize("name", ["gap", "label-augmentation"])
def test_label_only_attacks_find_members_and_sit_at_chance_under_control(name):
    real = run(attacks=[name], **OVERFIT).attack(name)
    control = run(attacks=[name], control=True, **OVERFIT).attack(name)
    assert real.metrics.auc > 0.6 and real.threat_model == "label-only"
    assert abs(control.metrics.auc - 0.5) < 0.08


def test_the_gap_attacks_advantage_is_the_accuracy_gap():
    result = run(attacks=["gap"], **OVERFIT)
    gap = result.target_train_accuracy - result.target_test_accuracy
    m = result.attack("gap").metrics
    # the evaluation halves of members and non-members: close to the whole sets' gap
    assert m.advantage == pytest.approx(gap, abs=0.06)
    assert m.auc == pytest.approx(0.5 + m.advantage / 2)


class Peeker:
    """A label-only attack that tries to read the target's logits anyway."""

    threat_model = ThreatModel.LABEL_ONLY

    def score(self, ctx: AttackContext):
        return ctx.target.probabilities(ctx.evaluation.x)[:, 0]


class PeekerPlugin:
    @staticmethod
    @hookimpl
    def register_attacks(register):
        register("peeker", Peeker)


def test_asking_a_label_only_target_for_scores_names_the_attack():
    with pytest.raises(PluginError, match="attack 'peeker' is label-only: the target answers "
                       r"predicted labels only \(ctx.target.labels\(x\)\)"):
        run(("peeker-plugin", PeekerPlugin), attacks=["peeker"], **OVERFIT)


def test_the_oracle_answers_labels_and_counts_queries():
    model = torch.nn.Linear(3, 4)
    oracle = LabelOracle(model, torch.device("cpu"), "x")
    x = torch.randn(5, 3)
    assert torch.equal(oracle.labels(x), model(x).argmax(1))
    assert oracle.queries == 5
    for ask in (lambda: oracle.logits(x), lambda: oracle.loss(x, torch.zeros(5).long())):
        with pytest.raises(PluginError):
            ask()


def test_perturbations_are_shifts_and_flips_for_images_noise_otherwise():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    moved = shift_images(x, 1, 0)
    assert torch.equal(moved[..., 1:, :], x[..., :-1, :])  # down by one row
    options = AugmentationOptions(queries=4, shift=1)
    copies = perturbations(x, options, torch.ones(1), torch.Generator().manual_seed(0))
    assert len(copies) == 5 and torch.equal(copies[0], x)
    assert all(c.shape == x.shape for c in copies)
    table = torch.zeros(10, 3)
    noisy = perturbations(table, AugmentationOptions(queries=3, noise=0.5), torch.ones(1, 3),
                          torch.Generator().manual_seed(0))
    assert len(noisy) == 4 and 0.2 < float(noisy[1].std()) < 0.8
    again = perturbations(table, AugmentationOptions(queries=3, noise=0.5), torch.ones(1, 3),
                          torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(noisy, again, strict=True))


def test_table_noise_is_in_standard_deviations_of_each_feature():
    """On tables the copies get Gaussian noise of ``noise`` standard deviations of each
    feature (measured on the known records), as the option says: a feature a million
    times wider than another gets noise a million times wider, in the known and the
    evaluation records alike."""
    from types import SimpleNamespace

    from mia_torch_attack.label_only import AugmentationAttack

    g = torch.Generator().manual_seed(0)
    widths = torch.tensor([1000.0, 0.001, 1.0])
    known_x = torch.randn(2000, 3, generator=g) * widths
    eval_x = torch.randn(500, 3, generator=g) * widths
    asked = []

    def labels(x):
        asked.append(x.clone())
        return torch.zeros(len(x), dtype=torch.int64)

    ctx = SimpleNamespace(
        known=SimpleNamespace(data=LabeledData(known_x, torch.zeros(2000, dtype=torch.int64), 2),
                              is_member=torch.arange(2000) % 2 == 0),
        evaluation=LabeledData(eval_x, torch.zeros(500, dtype=torch.int64), 2),
        target=SimpleNamespace(labels=labels), generator=lambda: torch.Generator().manual_seed(1))
    AugmentationAttack(AugmentationOptions(queries=3, noise=0.5)).score(ctx)
    assert len(asked) == 8  # the records and 3 copies, for the known and the evaluation ones
    spread = known_x.std(0)
    for base, copies in ((known_x, asked[1:4]), (eval_x, asked[5:8])):
        assert torch.equal(asked[0 if base is known_x else 4], base)
        for copy in copies:
            ratio = (copy - base).std(0) / (0.5 * spread)
            assert ((ratio > 0.85) & (ratio < 1.15)).all(), ratio
