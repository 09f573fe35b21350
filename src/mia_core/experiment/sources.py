"""Where a run's target comes from, and who its members are: drawn at random and trained
here, named by a benchmark's labels and trained here, or given by the user (``--model``,
:mod:`mia_core.experiment.external`). The run asks its source for the split, then for the
target."""

from __future__ import annotations

import time
from typing import Protocol

import attrs
import torch

from mia_core.capabilities import MembershipDataset, SizedDataset, capable
from mia_core.config import DEFAULT_MEMBERS, ExperimentConfig, derive_seed
from mia_core.data import Records
from mia_core.errors import ConfigError, PluginError
from mia_core.experiment.canaries import make_canaries
from mia_core.experiment.external import chance_share, given_source, given_split
from mia_core.experiment.given import GivenRecords
from mia_core.experiment.models import ModelFactory
from mia_core.experiment.phases import RunRecords, Session, TrainedTarget
from mia_core.experiment.plan import Component, Plan
from mia_core.results.types import GivenModel
from mia_core.splits import draw_split, evaluation_order, known_count
from mia_core.training.dp import PrivacySpent
from mia_core.training.fit import accuracy
from mia_core.training.targets import PrivateTarget


class TargetSource(Protocol):
    """Where the model under audit comes from: trained here on members the core draws at
    random, trained here on the members a benchmark names (:class:`BenchmarkSplit`), or given
    by the user with its members (:class:`~mia_core.experiment.external.GivenSource`). A run
    asks it for the split, then for the target; nothing else differs. ``claim``: a warning
    about its ground truth, or ``None``."""

    claim: str | None

    def split(self, config: ExperimentConfig, plan: Plan,
              pool: Records) -> tuple[ExperimentConfig, RunRecords]:
        """Who is what (``config`` with the number of members it chose filled in)."""
        ...

    def target(self, config: ExperimentConfig, plan: Plan, records: RunRecords,
               models: ModelFactory, session: Session
               ) -> tuple[TrainedTarget, GivenModel | None]:
        """The model under audit, and what results.json says about a given one."""
        ...


def target_source(config: ExperimentConfig, plan: Plan, pool: Records) -> TargetSource:
    """The run's source of its target, chosen once: ``--model``, a benchmark's labels, or a
    random draw."""
    if config.given_model:
        return given_source(config, pool)
    if capable(plan.dataset.instance, MembershipDataset):
        return BenchmarkSplit.of(plan.dataset, pool)
    return TRAINED_HERE


class TrainedHere:
    """The target trained here, by the target plugin, on members drawn by the core."""

    claim = None

    def split(self, config: ExperimentConfig, plan: Plan,
              pool: Records) -> tuple[ExperimentConfig, RunRecords]:
        if config.members is None:  # the results record the number used, so a rerun matches
            config = attrs.evolve(config, members=default_members(plan.dataset, len(pool)))
        return config, split_records(config, plan, pool)

    def target(self, config: ExperimentConfig, plan: Plan, records: RunRecords,
               models: ModelFactory, session: Session) -> tuple[TrainedTarget, None]:
        return train_target(config, plan, records, models, session), None


TRAINED_HERE = TrainedHere()


@attrs.frozen
class BenchmarkSplit:
    """A benchmark whose dataset names its members (:class:`~mia_core.MembershipDataset`):
    members and non-members are drawn from its labels, balanced and disjoint, and the target
    is trained here on the drawn members, so they are its members for certain. Whether the
    labels split the texts at random is the benchmark's claim, which ``claim`` doubts."""

    given: GivenRecords
    claim: str

    @classmethod
    def of(cls, dataset: Component, pool: Records) -> BenchmarkSplit:
        labels = dataset.call("membership", pool)
        if (not isinstance(labels, torch.Tensor) or labels.dtype != torch.bool
                or tuple(labels.shape) != (len(pool),)):
            raise PluginError(f"{dataset.who} membership() must return a bool tensor of "
                              f"{len(pool)} labels, one per record")
        index = torch.arange(len(pool))
        given = GivenRecords(index[labels], index[~labels], f"dataset '{dataset.name}'", None)
        return cls(given, benchmark_claim(dataset.name))

    def split(self, config: ExperimentConfig, plan: Plan,
              pool: Records) -> tuple[ExperimentConfig, RunRecords]:
        return given_split(config, plan, pool, self.given)

    def target(self, config: ExperimentConfig, plan: Plan, records: RunRecords,
               models: ModelFactory, session: Session) -> tuple[TrainedTarget, None]:
        return train_target(config, plan, records, models, session), None


def benchmark_claim(name: str) -> str:
    return (f"dataset '{name}' names its members (the benchmark's labels): they are not a "
            "random draw from one pool, so an attack may tell members from non-members by how "
            "the records differ (dates, sources, topics) rather than by what the model "
            "memorised; blind-ngram, which never queries the model, measures how far. "
            "--control cannot check this")


def check_benchmark(config: ExperimentConfig, plan: Plan) -> None:
    """What a benchmark with fixed members cannot do: a control run (its non-members are not
    drawn like its members) or canaries."""
    if not capable(plan.dataset.instance, MembershipDataset) or config.given_model:
        return
    if config.control:
        raise ConfigError(f"--control trains on records drawn like the members, but dataset "
                          f"'{plan.dataset.name}' fixes its members by label, so a control "
                          "says nothing about it; drop --control (blind-ngram checks its "
                          "ground truth instead)")
    if config.canaries:
        raise ConfigError(f"--canaries with dataset '{plan.dataset.name}', whose members are "
                          "fixed by label, is not supported; drop --canaries")


def split_records(config: ExperimentConfig, plan: Plan, pool: Records) -> RunRecords:
    """The balanced, disjoint split, the canaries and the evaluation order."""
    assert config.members is not None
    split = draw_split(len(pool), config.members, config.known_fraction,
                       population_size(config, plan), config.seed, config.control)
    canaries = make_canaries(plan.dataset, pool, config.canaries,
                             derive_seed(config.seed, "canaries"))
    eval_index, is_member = evaluation_order(split, derive_seed(config.seed, "evaluation"))
    trained = split.decoys if config.control else split.members
    return RunRecords(pool, split, canaries, trained, eval_index, is_member)


def train_target(config: ExperimentConfig, plan: Plan, records: RunRecords,
                 models: ModelFactory, session: Session) -> TrainedTarget:
    """The target, trained on its records (or loaded from the cache), and its accuracies."""
    clock = time.perf_counter()
    what = "control decoys (not the members)" if config.control else "members"
    canaries = records.canaries
    extra = f" + {int(canaries.included.sum())} canaries" if canaries is not None else ""
    session.progress.message(f"training target '{plan.target.name}' on "
                             f"{len(records.trained_index)} {what}{extra} ({session.device})")
    index = records.target_index()
    model = models.target_model(index, derive_seed(config.seed, "target"))
    session.timed("train_target", clock)
    spent = privacy_spent(plan.target, models.pool.subset(index))
    pool, device, answers = records.pool, session.device, models.answers
    trained = pool.subset(records.trained_index)
    train_accuracy = accuracy(model, trained, device, answers)
    doubts = () if config.control else learned_nothing(train_accuracy, trained)
    for line in doubts:
        session.progress.message(f"WARNING: {line}")
    return TrainedTarget(model, train_accuracy,
                         accuracy(model, pool.subset(records.split.nonmembers), device,
                                  answers), spent, doubts)


def learned_nothing(train_accuracy: float, trained: Records) -> tuple[str, ...]:
    """Why a target trained here looks untrained: it classifies its own training records
    about as well as always answering their largest class (empty: it does better). Every
    attack is then near chance whatever the training's privacy, so the audit says little."""
    chance = chance_share(train_accuracy, trained)  # None too for NaN: no accuracy
    if chance is None:
        return ()
    return (f"the target learned almost nothing: it classifies {train_accuracy:.1%} of the "
            f"records it was trained on correctly, about chance (their largest class holds "
            f"{chance:.1%}). Likely causes: too little training (epochs, learning rate, "
            "batch size) or inputs the model cannot read. Every attack is near chance on "
            "such a model, which says nothing about the training's privacy",)


def privacy_spent(target: Component, data: Records) -> PrivacySpent | None:
    """The DP-SGD accounting of the target plugin's recipe on ``data``, if it trains with DP."""
    if not capable(target.instance, PrivateTarget):
        return None
    spent = target.call("privacy", data)
    if spent is not None and not isinstance(spent, PrivacySpent):
        raise PluginError(f"target '{target.name}' privacy() returned "
                          f"{type(spent).__name__}, not PrivacySpent or None")
    return spent


def default_members(dataset: Component, pool_size: int) -> int:
    """Members when ``--members`` is not given: the dataset's ``suggested_members`` if it
    declares one, else 12,000 (the demo's), capped at a quarter of the records so members,
    non-members, population and control decoys all fit (MNIST's 70,000 keep 12,000)."""
    if capable(dataset.instance, SizedDataset):
        suggested = dataset.instance.suggested_members
        if isinstance(suggested, bool) or not isinstance(suggested, int) or suggested < 2:
            raise PluginError(f"{dataset.who} suggests {suggested!r} members; it must be an "
                              "integer >= 2")
        return suggested
    members = min(DEFAULT_MEMBERS, pool_size // 4)
    if members < 2:
        raise ConfigError(f"dataset '{dataset.name}' has only {pool_size} records; "
                          "a split needs at least 8")
    return members


def population_size(config: ExperimentConfig, plan: Plan) -> int:
    """Population records to draw: none unless an attack needs them; by default as many as
    the attacker would otherwise know (so reference models train on about as many records as
    the target)."""
    needs = plan.population_attacks()
    if config.population is not None:
        if needs and config.population < 2:
            raise ConfigError(f"attack(s) {', '.join(needs)} need population records; "
                              f"--population {config.population} is too small")
        return config.population
    assert config.members is not None
    return 2 * known_count(config.members, config.known_fraction) if needs else 0
