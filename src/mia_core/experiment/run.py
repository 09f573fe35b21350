"""One experiment, as its phases: plan -> data and split -> target -> reference models ->
attacks -> results, each a function from typed values to typed values."""

from __future__ import annotations

import time
from pathlib import Path

import attrs
import torch

from mia_core.answers import answers_of
from mia_core.capabilities import ReadableDataset, capable
from mia_core.catalog.catalog import Catalog
from mia_core.config import ExperimentConfig, derive_seed
from mia_core.context import (
    AnswersMemo,
    AttackContext,
    KnownRecords,
    LabelOracle,
    TargetOracle,
)
from mia_core.data import LoadEnv, Records
from mia_core.errors import MiaError, PluginError, ReportError
from mia_core.experiment.canaries import audit_canaries, check_canaries
from mia_core.experiment.compatibility import check_signals, check_target_takes
from mia_core.experiment.device import resolve_device
from mia_core.experiment.external import check_given
from mia_core.experiment.models import ModelFactory, ReferenceTrainer
from mia_core.experiment.phases import RunRecords, Session, TrainedTarget
from mia_core.experiment.plan import Component, Plan, make_plan
from mia_core.experiment.scoring import score
from mia_core.experiment.sources import check_benchmark, target_source
from mia_core.progress import QUIET, Progress
from mia_core.queries import augmentations_for
from mia_core.results.exposure import most_exposed, strongest
from mia_core.results.measure import audit_seed
from mia_core.results.types import (
    AttackReport,
    ExperimentResult,
    ReportEnv,
    RunArtifacts,
)
from mia_core.threats import ThreatModel
from mia_core.training.cache import ModelCache
from mia_core.training.executors import ExecEnv


def run_experiment(config: ExperimentConfig, catalog: Catalog, *,
                   data_dir: Path | None = None, progress: Progress = QUIET,
                   cache: ModelCache | None = None, output: Path | None = None
                   ) -> tuple[ExperimentResult, RunArtifacts]:
    """Run ``config`` end to end, hand the outcome to its reporters (``output``: their folder)
    and return the result and the per-record artefacts."""
    plan = make_plan(config, catalog)
    check_given(config, plan)
    check_signals(plan)
    check_benchmark(config, plan)
    check_canaries(config.canaries, plan)
    session = Session(resolve_device(config.device), cache or ModelCache(None), progress)
    pool = load_data(plan.dataset, LoadEnv(data_dir, progress), session)
    check_target_takes(plan, pool, catalog)
    source = target_source(config, plan, pool)
    config, records = source.split(config, plan, pool)
    models = ModelFactory(plan.target, plan.dataset, records.training_pool(), session.device,
                          session.cache, progress)
    target, about = source.target(config, plan, records, models, session)
    references = reference_trainer(config, plan, records, models, session)
    reports, scores = attack_all(plan, records, target, references, config.seed, session)
    result = ExperimentResult(
        config=config, options=plan.options(), device=str(session.device),
        versions=plan.versions(), split_sizes=records.split.sizes(), pool_size=len(pool),
        target_train_accuracy=target.train_accuracy, target_test_accuracy=target.test_accuracy,
        attacks=reports, timings=session.timings, models_trained=session.cache.trained,
        models_from_cache=session.cache.hits, threads=torch.get_num_threads(),
        privacy=target.privacy, audit_delta=target.audit_delta, given_model=about,
        reference_queries=references.queries, step_format=models.step_format,
        benchmark_labels=source.claim, plugins=catalog.p_args, training_doubts=target.doubts)
    state = {k: v.detach().cpu() for k, v in target.model.state_dict().items()}
    exposed = exposed_records(reports, scores, records)
    labels = (pool.y[records.eval_index] if pool.y is not None
              else torch.full((len(records.eval_index),), -1, dtype=torch.int64))
    artifacts = RunArtifacts(records.split, records.eval_index, records.is_member,
                             labels, scores, state, exposed,
                             pool.x[exposed].detach().cpu(),
                             readable(plan.dataset, pool.subset(exposed)))
    deliver(plan.reporters, result, artifacts, ReportEnv(output, progress))
    return result, artifacts


def exposed_records(reports: tuple[AttackReport, ...], scores: dict[str, torch.Tensor],
                    records: RunRecords) -> torch.Tensor:
    """Dataset ids of the evaluation members the strongest attack ranks highest."""
    name = strongest([attrs.asdict(r) for r in reports])
    if name is None:
        return torch.empty(0, dtype=torch.int64)
    positions = most_exposed(scores[name].numpy(), records.is_member.numpy())
    return records.eval_index[torch.from_numpy(positions)]


def readable(dataset: Component, records: Records) -> tuple[str, ...]:
    """``records`` as text, where the dataset can say (:class:`~mia_core.ReadableDataset`)."""
    if not capable(dataset.instance, ReadableDataset) or not len(records):
        return ()
    texts = dataset.call("readable", records)
    if not isinstance(texts, list | tuple) or len(texts) != len(records) or not all(
            isinstance(t, str) for t in texts):
        raise PluginError(f"{dataset.who} readable() must return one string per record")
    return tuple(texts)


def load_data(dataset: Component, env: LoadEnv, session: Session) -> Records:
    """The dataset plugin's records, checked: Records (LabeledData), finite inputs."""
    clock = time.perf_counter()
    data = dataset.call("load", env)
    if not isinstance(data, Records):
        raise PluginError(f"{dataset.who} load() returned {type(data).__name__}, not "
                          "LabeledData or Records")
    if data.x.is_floating_point() and not torch.isfinite(data.x).all():
        bad = int((~torch.isfinite(data.x)).flatten(1).any(1).sum())
        raise PluginError(f"{dataset.who} returned {bad} record(s) with NaN or infinite inputs")
    session.timed("load_data", clock)
    return data


def reference_trainer(config: ExperimentConfig, plan: Plan, records: RunRecords,
                      models: ModelFactory, session: Session) -> ReferenceTrainer:
    """The reference models' trainer; trained now when a population attack needs them."""
    split = records.split
    env = ExecEnv(session.device, torch.get_num_threads(), config.workers, session.progress)
    trainer = ReferenceTrainer(models, plan.executor, env,
                               torch.cat([split.population, records.eval_index]),
                               len(split.population), config.reference_models,
                               derive_seed(config.seed, "references"))
    if len(split.population) and plan.reference_attacks():
        clock = time.perf_counter()
        trainer.get()
        session.timed("train_references", clock)
    return trainer


def attack_all(plan: Plan, records: RunRecords, target: TrainedTarget,
               references: ReferenceTrainer, seed: int,
               session: Session) -> tuple[tuple[AttackReport, ...], dict[str, torch.Tensor]]:
    """Every attack in its threat model's context, measured; canary audits where they fit."""
    pool, split = records.pool, records.split
    known_index = torch.cat([split.known_members, split.known_nonmembers])
    known = KnownRecords(pool.subset(known_index),
                         torch.arange(len(known_index)) < len(split.known_members))
    evaluation, population = pool.subset(records.eval_index), pool.subset(split.population)
    answers = answers_of(plan.target.instance)
    memo = AnswersMemo(target.model, session.device, [evaluation, known.data, population],
                       answers)
    views = augmentations_for(plan.target.instance, plan.dataset.instance, evaluation,
                              (plan.target.who, plan.dataset.who))
    reports, scores = [], {}
    for attack in plan.attacks:
        threat = ThreatModel(attack.instance.threat_model)
        oracle = (LabelOracle(target.model, session.device, attack.name, memo, answers)
                  if threat == ThreatModel.LABEL_ONLY
                  else TargetOracle(target.model, session.device, memo, answers))
        common = {"target": oracle, "evaluation": evaluation, "device": session.device,
                  "seed": audit_seed(seed, attack.name),
                  "progress": session.progress, "attack": attack.name, "augmentations": views}
        if threat == ThreatModel.POPULATION:
            ctx = AttackContext(known=None, population=population, references=references.get,
                                **common)
        else:
            ctx = AttackContext(known=known, **common)
        report, scores[attack.name] = score(attack, ctx, records.is_member, target.audit_delta)
        if records.canaries is not None:
            report = attrs.evolve(report, canary_audit=audit_canaries(
                attack, ctx, target.model, records.canaries, target.audit_delta))
        reports.append(report)
        session.timings[f"attack:{attack.name}"] = report.seconds
    return tuple(reports), scores


def deliver(reporters: tuple[Component, ...], result: ExperimentResult,
            artifacts: RunArtifacts, env: ReportEnv) -> None:
    """Hand the run to every reporter; one failing reporter does not stop the others."""
    failures = []
    for reporter in reporters:
        try:
            places = reporter.call("report", result, artifacts, env) or ()
        except MiaError as exc:
            failures.append(f"reporter '{reporter.name}' could not deliver the results: {exc}")
            continue
        for place in places:
            env.progress.message(f"{reporter.name}: wrote {place}")
    if failures:
        raise ReportError("; ".join(failures), result)
