"""The phases of a run that audits a model trained elsewhere (``--model``, ``--train-records``).

Everything else runs as for a model mia-core trains: the balanced split (drawn from the
given members and non-members), the attacks, the metrics, ε lower bounds. What cannot work
is refused before the data is read: a control run or canaries need the target retrained, and
population attacks need a target that can train reference models.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import attrs
import torch

from mia_core.answers import CLASS_LOGITS, Answers, answers_of
from mia_core.capabilities import capable
from mia_core.config import ALL_MEMBERS, ExperimentConfig, derive_seed
from mia_core.data import Records
from mia_core.downloads import digest_of
from mia_core.errors import ConfigError
from mia_core.experiment.given import (
    GivenRecords,
    load_into,
    read_given_records,
    read_state_dict,
)
from mia_core.experiment.models import ModelFactory, check_model_outputs
from mia_core.experiment.phases import RunRecords, Session, TrainedTarget
from mia_core.experiment.plan import Plan
from mia_core.results.types import GivenModel
from mia_core.splits import draw_given_split, evaluation_order, given_members, known_count
from mia_core.training.targets import BuildableTarget, ModelFileTarget, RecipeTarget, trains


def model_digest(path: Path) -> str:
    """SHA-256 of the model file, or of a model folder (every file's name and digest, in
    order: a Hugging Face folder), so results.json names exactly what was audited."""
    if path.is_file():
        return digest_of(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{item.relative_to(path).as_posix()}:{digest_of(item)}\n".encode())
    return digest.hexdigest()


def check_given(config: ExperimentConfig, plan: Plan) -> None:
    """Usage errors of a given-model run, before any data is read."""
    target = plan.target
    if config.given_model:
        path = Path(config.model)
        folder = path.is_dir() and capable(target.instance, ModelFileTarget)
        if not (path.is_file() or folder):
            raise ConfigError(f"--model {path} is not a file" + (
                f" ({target.who} reads a file, not a folder)" if path.is_dir() else ""))
        if config.control:
            raise ConfigError("--control retrains the target on other records, but --model "
                              "gives a trained model; drop --control (or --model)")
        if config.canaries:
            raise ConfigError("--canaries trains the target with canary records, but --model "
                              "gives a trained model; drop --canaries (or --model)")
        if not (capable(target.instance, ModelFileTarget)
                or capable(target.instance, BuildableTarget)):
            raise ConfigError(f"{target.who} has no build() to load --model's weights into; "
                              "choose a target that builds the model's architecture")
    if not trains(target.instance):
        if not config.given_model:
            raise ConfigError(f"{target.who} trains no models; it audits a given model: "
                              "add --model FILE and --train-records FILE")
        needs = plan.reference_attacks()
        if needs:
            raise ConfigError(f"attack(s) {', '.join(needs)} train reference models like the "
                              f"target, but {target.who} has no training code; use "
                              "known-members attacks, or a target plugin that builds the "
                              "architecture")


MIN_POPULATION = 20  # non-members --members all must leave for the reference models' records


def members_used(members: int, given: GivenRecords, population: int) -> str:
    """Which of the listed members the audit uses, and what limited it, in one line."""
    listed, others = len(given.members), len(given.nonmembers)
    if members == listed:
        return f"all {listed} listed members are in the split"
    limit = (f"the {others} non-members balance {members} and leave {population} for the "
             "population" if population else f"the {others} non-members balance {members}")
    return (f"{members} of the {listed} listed members are in the split ({limit}); --members "
            "all uses every one where the non-members allow")


def given_split(config: ExperimentConfig, plan: Plan, pool: Records,
                given: GivenRecords) -> tuple[ExperimentConfig, RunRecords]:
    """The split drawn from the given members and non-members (``members`` filled in)."""
    needs = bool(plan.population_attacks())
    members = config.members
    population = config.population
    if members == ALL_MEMBERS:
        members = len(given.members)
        if population is None and needs:  # the reference models get the non-members left
            population = len(given.nonmembers) - members
            if population < MIN_POPULATION:
                most = given_members(len(given.members), len(given.nonmembers),
                                     2 * config.known_fraction)
                raise ConfigError(
                    f"--members all: the {members} listed members leave {max(population, 0)} "
                    f"of the {len(given.nonmembers)} non-members for the reference models of "
                    f"{', '.join(plan.population_attacks())} (at least {MIN_POPULATION} "
                    f"needed); list more non-members, or give --members {most} or fewer")
        config = attrs.evolve(config, members=members)
    elif members is None:
        share = 2 * config.known_fraction if needs and config.population is None else 0.0
        spare = len(given.nonmembers) - (config.population or 0)
        members = given_members(len(given.members), spare, share)
        config = attrs.evolve(config, members=members)
    assert isinstance(members, int)
    if population is None:
        population = 2 * known_count(members, config.known_fraction) if needs else 0
    split = draw_given_split(given.members, given.nonmembers, members, config.known_fraction,
                             population, config.seed)
    eval_index, is_member = evaluation_order(split, derive_seed(config.seed, "evaluation"))
    return config, RunRecords(pool, split, None, split.members, eval_index, is_member)


def load_target(config: ExperimentConfig, plan: Plan, records: RunRecords, given: GivenRecords,
                session: Session) -> tuple[TrainedTarget, GivenModel]:
    """The given model, loaded and checked, and what the results say about it."""
    clock = time.perf_counter()
    path = Path(config.model)
    target, pool, device = plan.target, records.pool, session.device
    data = pool.subset(records.trained_index)
    session.progress.message(f"loading the model under audit from {path} (target "
                             f"'{target.name}'; {len(records.trained_index)} members)")
    if capable(target.instance, ModelFileTarget):
        model = target.call("load_model", path, data)
    else:
        model = load_into(target.call("build", data), read_state_dict(path), path, target.who)
    model = model.to(device).eval()
    answers = answers_of(target.instance)
    check_model_outputs(target.who, model, data.subset(torch.arange(min(64, len(data)))),
                        device, answers)
    session.timed("load_target", clock)
    if plan.reference_attacks():
        how = ("recipe" if capable(target.instance, RecipeTarget)
               else "own training code (for the python target, python.train)")
        session.progress.message(
            f"note: reference models are trained with target '{target.name}''s {how}; they "
            "model the real training only as far as that (architecture, optimiser, epochs, "
            "augmentation) matches it")
    nonmembers = pool.subset(records.split.nonmembers)
    on_members, on_nonmembers = (answers.answer(model, d, device) for d in (data, nonmembers))
    trained = TrainedTarget(model, _accuracy(answers, on_members, data),
                            _accuracy(answers, on_nonmembers, nonmembers), None)
    doubts = doubts_about(on_members, data, on_nonmembers, nonmembers, answers)
    for line in doubts:
        session.progress.message(f"WARNING: {line}")
    assert isinstance(config.members, int)
    used = members_used(config.members, given, len(records.split.population))
    session.progress.message(f"split: {used}")
    return trained, GivenModel(str(path), model_digest(path), str(config.train_records),
                               config.heldout_records, given.describe(), doubts, used)


CHANCE_MARGIN = 0.05  # members' accuracy this close to the largest class's share is chance


def chance_share(accuracy: float, records: Records) -> float | None:
    """The share of ``records``' largest class when ``accuracy`` on them is within
    :data:`CHANCE_MARGIN` of it (what always answering that class scores), else ``None``."""
    if records.y is None or not len(records):
        return None
    chance = float(torch.bincount(records.y).max()) / len(records)
    return chance if accuracy < chance + CHANCE_MARGIN else None


def _accuracy(answers: Answers, found: torch.Tensor, records: Records) -> float:
    return answers.accuracy(found, records) if answers.accuracy is not None else float("nan")


def doubts_about(on_members: torch.Tensor, members: Records, on_nonmembers: torch.Tensor,
                 nonmembers: Records, answers: Answers = CLASS_LOGITS) -> tuple[str, ...]:
    """Why the given model does not look trained on its listed members (empty: it does);
    ``on_members`` and ``on_nonmembers`` are its answers to each.

    A model trained on exactly these records answers them better than chance, at least as
    well as the non-members, and with a lower loss. When it does not, the audit is probably
    of the wrong thing: inputs preprocessed otherwise than in training, a member list that is
    not the training set, or ids off by one; the metrics would be silently wrong. Accuracy
    is tested where the answers have one and the records labels; the loss wherever the
    answers give a ``log_likelihood``."""
    found = []
    if answers.accuracy is not None and members.y is not None:
        acc_in = answers.accuracy(on_members, members)
        acc_out = answers.accuracy(on_nonmembers, nonmembers)
        chance = chance_share(acc_in, members)
        if chance is not None:
            found.append(f"it classifies {acc_in:.1%} of its listed members correctly, about "
                         f"chance (the largest class holds {chance:.1%} of them)")
        if acc_in < acc_out:
            found.append(f"it classifies its listed members worse than the non-members "
                         f"({acc_in:.1%} against {acc_out:.1%})")
    if "log_likelihood" in answers.signals:
        loss_in = -float(answers.signal("log_likelihood", on_members, members).mean())
        loss_out = -float(answers.signal("log_likelihood", on_nonmembers, nonmembers).mean())
        if loss_in >= loss_out:
            found.append(f"its mean loss on the listed members ({loss_in:.3f}) is not lower "
                         f"than on the non-members ({loss_out:.3f})")
    if not found:
        return ()
    return (f"the model under audit does not look trained on its listed members: "
            f"{'; '.join(found)}. Likely causes: the dataset hands the model inputs scaled or "
            "laid out otherwise than in its training, the member list is not its training "
            "set, or the ids are off by one. The metrics below are probably wrong",)


def given_records(config: ExperimentConfig, pool: Records) -> GivenRecords:
    """The user's member and heldout lists, checked against the dataset's size."""
    assert config.train_records is not None
    return read_given_records(config.train_records, config.heldout_records, len(pool))


@attrs.frozen
class GivenSource:
    """The model under audit given by the user (``--model``) with its members
    (``--train-records``): the split is drawn from those lists, the target is loaded."""

    given: GivenRecords
    claim = None  # the user's claim is checked by doubts_about, after loading

    def split(self, config: ExperimentConfig, plan: Plan,
              pool: Records) -> tuple[ExperimentConfig, RunRecords]:
        return given_split(config, plan, pool, self.given)

    def target(self, config: ExperimentConfig, plan: Plan, records: RunRecords,
               models: ModelFactory, session: Session) -> tuple[TrainedTarget, GivenModel]:
        return load_target(config, plan, records, self.given, session)


def given_source(config: ExperimentConfig, pool: Records) -> GivenSource:
    """The given-model source of a run with ``--model``, its id lists read and checked."""
    return GivenSource(given_records(config, pool))
