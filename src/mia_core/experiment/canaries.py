"""Canaries for the one-run audit: records the target trains on with probability 1/2 each.

They sit after the pool's records, so they are never drawn into the split: members,
non-members and evaluation records are exactly as without them.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from mia_core.capabilities import CanaryDataset, capable
from mia_core.context import AttackContext, LabelOracle, TargetOracle
from mia_core.data import LabeledData, Records
from mia_core.errors import ConfigError, PluginError
from mia_core.experiment.plan import Component, Plan
from mia_core.experiment.scoring import ask
from mia_core.results.audit import CanaryAudit, canary_audit


@attrs.frozen(eq=False)
class Canaries:
    """The canary records and which of them the target trains on."""

    data: Records
    included: torch.Tensor  # bool, one per canary


def check_canaries(count: int, plan: Plan) -> None:
    """``--canaries`` needs an attack that can score them, known before any training:
    population attacks' reference models never see the canaries, so they cannot."""
    if count and len(plan.population_attacks()) == len(plan.attacks):
        raise ConfigError(f"--canaries {count}: no attack here can score the canaries "
                          f"({', '.join(plan.population_attacks())} train reference models "
                          "without them); add a known-members attack such as loss-threshold "
                          "or torch-mlp, or drop --canaries")


def make_canaries(dataset: Component, pool: Records, count: int,
                  seed: int) -> Canaries | None:
    """``count`` canaries (``None`` for none). A dataset with the :class:`CanaryDataset`
    capability makes its own; by default they are copies of random records with a wrong
    label, which a model can only fit by memorising them, so an attack recognises the ones it
    trained on."""
    if count == 0:
        return None
    generator = torch.Generator().manual_seed(seed)
    if capable(dataset.instance, CanaryDataset):
        data = dataset.call("canaries", pool, count, generator)
        if (not isinstance(data, Records) or len(data) != count
                or data.x.shape[1:] != pool.x.shape[1:]
                or data.num_classes != pool.num_classes
                or (data.lengths is None) != (pool.lengths is None)):
            raise PluginError(f"dataset '{dataset.name}' canaries() must return "
                              f"{type(pool).__name__} of {count} records shaped like its own")
    else:
        if pool.y is None or pool.num_classes is None:
            raise ConfigError(f"--canaries {count}: the default canaries are relabelled "
                              f"copies of records, and dataset '{dataset.name}' has no "
                              "labels; its plugin must make its own (a canaries() method)")
        if pool.num_classes < 2 or count > len(pool):
            raise ConfigError(f"--canaries {count}: the default canaries are relabelled copies "
                              f"of distinct records; this dataset has {len(pool)} records and "
                              f"{pool.num_classes} classes")
        picked = torch.randperm(len(pool), generator=generator)[:count]
        shift = torch.randint(1, pool.num_classes, (count,), generator=generator)
        data = LabeledData(pool.x[picked].clone(), (pool.y[picked] + shift) % pool.num_classes,
                           pool.num_classes)
    return Canaries(data, torch.rand(count, generator=generator) < 0.5)


def audit_canaries(attack: Component, ctx: AttackContext, model: nn.Module,
                   canaries: Canaries, delta: float) -> CanaryAudit | None:
    """The attack scores the canaries as it scores evaluation records; its top and bottom
    guesses give the one-run bound. Population attacks would need reference models trained
    with the canaries, so they are not audited this way."""
    if ctx.known is None:
        return None
    answers = ctx.target.answering  # a fresh oracle: the canaries' queries are not counted
    oracle = (LabelOracle(model, ctx.device, ctx.attack, answers=answers)
              if isinstance(ctx.target, LabelOracle)
              else TargetOracle(model, ctx.device, answers=answers))
    canary_ctx = attrs.evolve(ctx, target=oracle)
    answer = ask(attack, canary_ctx, canaries.data)
    return canary_audit(canaries.included.numpy(), answer.scores.numpy(), delta)
