"""Running one experiment: data -> balanced split -> target on members -> attacks -> metrics."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn

from mia_core.catalog.loading import Catalog
from mia_core.catalog.registry import Entry, interface_problem
from mia_core.data import LabeledData, LoadEnv
from mia_core.errors import ConfigError, MiaError, PluginError, ReportError, TrainingDiverged
from mia_core.experiment.config import DEFAULT_MEMBERS, ExperimentConfig
from mia_core.experiment.context import (
    AttackContext,
    KnownRecords,
    LogitsMemo,
    TargetOracle,
    normalise_output,
)
from mia_core.experiment.device import resolve_device
from mia_core.experiment.references import ReferenceTrainer
from mia_core.experiment.splits import draw_split, known_count
from mia_core.options import as_dict, build_options, fields_of, unknown_option_message
from mia_core.progress import QUIET, Progress
from mia_core.results.audit import DEFAULT_DELTA, canary_audit, epsilon_lower_bound
from mia_core.results.metrics import compute_metrics
from mia_core.results.report import per_class_metrics
from mia_core.results.types import AttackReport, ExperimentResult, ReportEnv, RunArtifacts, versions
from mia_core.threats import ThreatModel
from mia_core.training.cache import ModelCache, load_weights
from mia_core.training.dp import PrivacySpent
from mia_core.training.executors import ExecEnv, TrainTask
from mia_core.training.fit import TrainEnv, accuracy, predict_logits, seeded

COMPONENT_KINDS = ("dataset", "target", "attack", "reporter", "executor")


@attrs.frozen
class Component:
    """A selected plugin component, built with its validated options."""

    label: str  # "dataset", "target" or the attack's name
    entry: Entry
    options: Any
    instance: Any


def derive_seed(seed: int, purpose: str) -> int:
    """An independent, reproducible seed for one phase of the experiment."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def plan(config: ExperimentConfig, catalog: Catalog) -> list[Component]:
    """Look up and build every component, validating options, before any work is done."""
    selected = [("dataset", "dataset", config.dataset), ("target", "target", config.target)]
    selected += [("attack", name, name) for name in config.attacks]
    selected += [("reporter", name, name) for name in config.reporters]
    selected += [("executor", "executor", config.executor)]
    entries = [(label, catalog.get(kind, name)) for kind, label, name in selected]
    routed = route_options(config.options, entries)
    components = []
    for label, entry in entries:
        what = f"{entry.kind} '{entry.name}'"
        options = build_options(entry.options, routed.get(label, {}), what)
        try:
            instance = entry.build(options)
        except MiaError:  # already says what to do
            raise
        except Exception as exc:
            raise PluginError(f"{what} (plugin '{entry.origin.plugin}') failed to build: "
                              f"{type(exc).__name__}: {exc}") from exc
        _check_interface(entry, instance)
        components.append(Component(label, entry, options, instance))
    return components


def route_options(options: Mapping[str, Mapping[str, Any]],
                  entries: list[tuple[str, Entry]]) -> dict[str, dict[str, Any]]:
    """Send each option to its component.

    Keys of ``options`` are ``dataset``, ``target``, ``attack`` (every selected attack), a
    component's name, or ``""`` for bare keys, which go to the one component that has them.
    """
    routed: dict[str, dict[str, Any]] = {label: {} for label, _ in entries}
    for prefix, values in options.items():
        for key, value in values.items():
            for label in _targets_of(prefix, key, entries):
                routed[label][key] = value
    return routed


def _targets_of(prefix: str, key: str, entries: list[tuple[str, Entry]]) -> list[str]:
    if prefix:
        labels = [label for label, e in entries
                  if prefix in (label, e.kind, e.name)]
        if not labels:
            names = sorted({lbl for lbl, _ in entries} | set(COMPONENT_KINDS))
            raise ConfigError(f"option '{prefix}.{key}' names no selected component "
                              f"(use one of: {', '.join(names)})")
        return labels
    having = [label for label, e in entries
              if e.options and key in {f.name for f in fields_of(e.options)}]
    if len(having) == 1:
        return having
    if len(having) > 1:
        raise ConfigError(f"option '{key}' is ambiguous: {', '.join(having)} all have it; "
                          f"write e.g. -o {having[-1]}.{key}=...")
    known = sorted({f.name for _, e in entries if e.options for f in fields_of(e.options)})
    raise ConfigError(unknown_option_message(key, known, "the selected components"))


def _check_interface(entry: Entry, instance: Any) -> None:
    problem = interface_problem(entry.kind, instance, built=True)
    if problem:
        raise PluginError(f"{entry.kind} '{entry.name}' (plugin '{entry.origin.plugin}') "
                          f"{problem}")


def run_experiment(config: ExperimentConfig, catalog: Catalog, *,
                   data_dir: Path | None = None, progress: Progress = QUIET,
                   cache: ModelCache | None = None, output: Path | None = None
                   ) -> tuple[ExperimentResult, RunArtifacts]:
    """Run ``config`` end to end, hand the outcome to its reporters (``output``: their folder)
    and return the result and the per-record artefacts."""
    components = plan(config, catalog)
    dataset, target = components[0], components[1]
    attacks = [c for c in components[2:] if c.entry.kind == "attack"]
    reporters = [c for c in components[2:] if c.entry.kind == "reporter"]
    executor = components[-1]
    device = resolve_device(config.device)
    timings: dict[str, float] = {}

    clock = time.perf_counter()
    pool = _load(dataset, LoadEnv(data_dir, progress))
    timings["load_data"] = time.perf_counter() - clock
    if config.members is None:  # the results record the number used, so a rerun matches
        config = attrs.evolve(config, members=default_members(dataset, len(pool)))

    split = draw_split(len(pool), config.members, config.known_fraction,  # checks the split
                       population_size(config, attacks), config.seed, config.control)
    trained_index = split.decoys if config.control else split.members
    trained_on, nonmembers = pool.subset(trained_index), pool.subset(split.nonmembers)
    # canaries sit after the pool's records: never drawn into the split, each trained on
    # with probability 1/2
    canaries, canary_in = _canaries(dataset, pool, config.canaries,
                                    derive_seed(config.seed, "canaries"))
    training_pool = pool if canaries is None else LabeledData(
        torch.cat([pool.x, canaries.x]), torch.cat([pool.y, canaries.y]), pool.num_classes)
    target_index = torch.cat([trained_index, len(pool) + torch.nonzero(canary_in)[:, 0]])

    clock = time.perf_counter()
    what = "control decoys (not the members)" if config.control else "members"
    extra = f" + {int(canary_in.sum())} canaries" if canaries is not None else ""
    progress.message(f"training target '{target.entry.name}' on {len(trained_on)} {what}"
                     f"{extra} ({device})")
    cache = cache or ModelCache(None)
    train_model = TargetTrainer(target, dataset, training_pool, device, cache, progress)
    model = train_model(target_index, derive_seed(config.seed, "target"))
    timings["train_target"] = time.perf_counter() - clock
    spent = _privacy_spent(target, trained_on if canaries is None
                           else training_pool.subset(target_index))
    audit_delta = spent.delta if spent is not None else DEFAULT_DELTA
    train_acc = accuracy(model, trained_on, device)
    test_acc = accuracy(model, nonmembers, device)

    eval_index, is_member = _evaluation_order(split, derive_seed(config.seed, "evaluation"))
    known_index = torch.cat([split.known_members, split.known_nonmembers])
    known = KnownRecords(pool.subset(known_index),
                         torch.arange(len(known_index)) < len(split.known_members))
    evaluation = pool.subset(eval_index)
    population = pool.subset(split.population)
    exec_env = ExecEnv(device, torch.get_num_threads(), config.workers, progress)
    references = ReferenceTrainer(
        train_model, executor, exec_env, pool, split.population, eval_index,
        config.reference_models, derive_seed(config.seed, "references"))
    if len(population):
        clock = time.perf_counter()
        references.get()
        timings["train_references"] = time.perf_counter() - clock
    reports, scores = [], {}
    memo = LogitsMemo(model, device, [evaluation.x, known.data.x, population.x])
    for attack in attacks:
        oracle = TargetOracle(model, device, memo)
        seed = derive_seed(config.seed, f"attack:{attack.entry.name}")
        if attack.instance.threat_model == ThreatModel.POPULATION:
            ctx = AttackContext(oracle, evaluation, None, device, seed, progress,
                                population=population, references=references,
                                attack=attack.entry.name)
        else:
            ctx = AttackContext(oracle, evaluation, known, device, seed, progress,
                                attack=attack.entry.name)
        report, scores[attack.entry.name] = _score(attack, ctx, is_member, audit_delta)
        if canaries is not None:
            report = attrs.evolve(report, canary_audit=_audit_canaries(
                attack, ctx, model, canaries, canary_in, audit_delta))
        reports.append(report)
        timings[f"attack:{attack.entry.name}"] = report.seconds

    result = ExperimentResult(
        config=config.to_dict(),
        options={c.label: as_dict(c.options) for c in components},
        device=str(device),
        versions=versions(c.entry for c in components),
        split_sizes=split.sizes(),
        pool_size=len(pool),
        target_train_accuracy=train_acc,
        target_test_accuracy=test_acc,
        attacks=tuple(reports),
        timings=timings,
        models_trained=cache.trained,
        models_from_cache=cache.hits,
        threads=torch.get_num_threads(),
        privacy=attrs.asdict(spent) if spent is not None else None,
        audit_delta=audit_delta,
    )
    artifacts = RunArtifacts(split, eval_index, is_member, pool.y[eval_index], scores,
                             {k: v.detach().cpu() for k, v in model.state_dict().items()})
    env = ReportEnv(output, progress)
    failures = []
    for reporter in reporters:  # one failing reporter does not stop the others
        try:
            places = _call(reporter, "report", result, artifacts, env) or ()
        except MiaError as exc:
            failures.append(f"reporter '{reporter.entry.name}' could not deliver the results: "
                            f"{exc}")
            continue
        for place in places:
            progress.message(f"{reporter.entry.name}: wrote {place}")
    if failures:
        raise ReportError("; ".join(failures), result)
    return result, artifacts


def _score(attack: Component, ctx: AttackContext, is_member: torch.Tensor,
           delta: float = DEFAULT_DELTA) -> tuple[AttackReport, torch.Tensor]:
    """Run one attack and measure it; the core, not the attack, computes every metric."""
    clock = time.perf_counter()
    ctx.progress.message(f"running attack '{attack.entry.name}'")
    with seeded(ctx.seed):
        answer = normalise_output(_call(attack, "score", ctx), len(ctx.evaluation),
                                  attack.entry.name)
    seconds = time.perf_counter() - clock
    truth, scores = is_member.numpy(), answer.scores.numpy()
    metrics = compute_metrics(truth, scores, answer.threshold)
    bound = epsilon_lower_bound(truth, scores, delta, seed=ctx.seed)
    metrics = attrs.evolve(metrics, epsilon_lb=bound.epsilon)
    per_class = per_class_metrics(truth, ctx.evaluation.y.numpy(), scores, answer.threshold)
    threat = "population" if ctx.references is not None else "known-members"
    report = AttackReport(attack.entry.name, metrics, seconds, ctx.target.queries, per_class,
                          threat)
    return report, answer.scores


class TargetTrainer:
    """The target plugin's models, through the model cache: the target itself (``self(indices,
    seed)``, in this process) and the reference models (:meth:`cached`, then an executor, then
    :meth:`keep`). A model's cache key is the same whichever way it was trained."""

    def __init__(self, target: Component, dataset: Component, pool: LabeledData,
                 device: torch.device, cache: ModelCache, progress: Progress) -> None:
        self.target, self.pool, self.device = target, pool, device
        self.cache, self.progress = cache, progress
        self._base = model_key_parts(dataset, target, pool, device)
        entry = target.entry
        self.who = f"target '{entry.name}' (plugin '{entry.origin.plugin}')"

    def task(self, data: LabeledData) -> TrainTask:
        """The executors' task: the target and only ``data``, the records the reference
        models train on, so no more data than needed travels to workers."""
        return TrainTask(self.target.instance, self.who, data)

    def __call__(self, indices: torch.Tensor, seed: int) -> nn.Module:
        data = self.pool.subset(indices)

        def fit() -> nn.Module:
            with seeded(seed):
                model = _call(self.target, "fit", data, TrainEnv(self.device, seed,
                                                                 self.progress))
            if not isinstance(model, nn.Module):
                raise PluginError(f"target '{self.target.entry.name}' fit() returned "
                                  f"{type(model).__name__}, not a torch.nn.Module")
            return model

        model = self.cache.fit(self._parts(indices, seed), self._builder(data), fit, self.device)
        check_model_outputs(self.target, model, data, self.device)
        return model

    def cached(self, records: torch.Tensor, seed: int) -> nn.Module | None:
        """The model trained on ``records`` (pool indices) with ``seed``, if cached."""
        data = self.pool.subset(records)
        model = self.cache.load(self._parts(records, seed), self._builder(data), self.device)
        if model is not None:
            check_model_outputs(self.target, model, data, self.device)
        return model

    def keep(self, records: torch.Tensor, seed: int,
             trained: nn.Module | Mapping[str, torch.Tensor], what: str) -> nn.Module:
        """A model an executor trained on ``records`` (a module, or a state dict to load into
        ``build()``): checked, then written to the cache at once."""
        data = self.pool.subset(records)
        build = self._builder(data)
        if isinstance(trained, nn.Module):
            model = trained.to(self.device).eval()
        elif build is None:
            raise PluginError(f"{self.who} has no build() method, so its weights cannot be "
                              "loaded from another process; use --executor local --workers 1")
        else:
            try:
                model = load_weights(build(), trained)
            except (RuntimeError, KeyError) as exc:
                raise PluginError(f"the weights returned for {what} do not fit {self.who}'s "
                                  f"build(): {str(exc).splitlines()[0]}") from None
            model = model.to(self.device).eval()
        check_model_outputs(self.target, model, data, self.device)
        self.cache.store(self._parts(records, seed), model, build is not None)
        return model

    def _parts(self, indices: torch.Tensor, seed: int) -> dict[str, Any]:
        return {**self._base, "seed": seed, "records": indices}

    def _builder(self, data: LabeledData) -> Callable[[], nn.Module] | None:
        build = getattr(self.target.instance, "build", None)
        return (lambda: _call(self.target, "build", data)) if callable(build) else None


def _canaries(dataset: Component, pool: LabeledData, count: int,
              seed: int) -> tuple[LabeledData | None, torch.Tensor]:
    """``count`` canary records and which of them the target trains on (each with probability
    1/2). The dataset plugin may supply its own with ``canaries(pool, count, generator)``;
    by default they are copies of random records with a wrong label, which a model can only
    fit by memorising them, so an attack recognises the ones it trained on."""
    generator = torch.Generator().manual_seed(seed)
    if count == 0:
        return None, torch.zeros(0, dtype=torch.bool)
    own = getattr(dataset.instance, "canaries", None)
    if callable(own):
        canaries = _call(dataset, "canaries", pool, count, generator)
        if (not isinstance(canaries, LabeledData) or len(canaries) != count
                or canaries.x.shape[1:] != pool.x.shape[1:]
                or canaries.num_classes != pool.num_classes):
            raise PluginError(f"dataset '{dataset.entry.name}' canaries() must return "
                              f"LabeledData of {count} records shaped like its own")
    else:
        if pool.num_classes < 2 or count > len(pool):
            raise ConfigError(f"--canaries {count}: the default canaries are relabelled copies "
                              f"of distinct records; this dataset has {len(pool)} records and "
                              f"{pool.num_classes} classes")
        picked = torch.randperm(len(pool), generator=generator)[:count]
        shift = torch.randint(1, pool.num_classes, (count,), generator=generator)
        canaries = LabeledData(pool.x[picked].clone(), (pool.y[picked] + shift) %
                               pool.num_classes, pool.num_classes)
    return canaries, torch.rand(count, generator=generator) < 0.5


def _audit_canaries(attack: Component, ctx: AttackContext, model: nn.Module,
                    canaries: LabeledData, included: torch.Tensor,
                    delta: float) -> dict[str, Any] | None:
    """The attack scores the canaries as it scores evaluation records; its top and bottom
    guesses give the one-run bound. Population attacks would need reference models trained
    with the canaries, so they are not audited this way."""
    if ctx.known is None:
        return None
    canary_ctx = attrs.evolve(ctx, target=TargetOracle(model, ctx.device), evaluation=canaries)
    with seeded(ctx.seed):
        answer = normalise_output(_call(attack, "score", canary_ctx), len(canaries),
                                  attack.entry.name)
    return attrs.asdict(canary_audit(included.numpy(), answer.scores.numpy(), delta))


def _privacy_spent(target: Component, data: LabeledData) -> PrivacySpent | None:
    """The DP-SGD accounting of the target plugin's recipe on ``data``, if it trains with DP."""
    privacy = getattr(target.instance, "privacy", None)
    if not callable(privacy):
        return None
    spent = _call(target, "privacy", data)
    if spent is not None and not isinstance(spent, PrivacySpent):
        raise PluginError(f"target '{target.entry.name}' privacy() returned "
                          f"{type(spent).__name__}, not PrivacySpent or None")
    return spent


def check_model_outputs(target: Component, model: nn.Module, data: LabeledData,
                        device: torch.device, probe: int = 64) -> None:
    """Logits of shape (N, classes), all finite, on a few training records: a broken model is
    the target plugin's fault, found here rather than as an attack's crash later."""
    who = f"target '{target.entry.name}' (plugin '{target.entry.origin.plugin}')"
    try:
        logits = predict_logits(model, data.x[:probe], device)
    except Exception as exc:
        raise PluginError(f"{who}: its trained model fails on the training records: "
                          f"{type(exc).__name__}: {exc}") from exc
    expected = (min(probe, len(data)), data.num_classes)
    if tuple(logits.shape) != expected:
        raise PluginError(f"{who}: its model returns outputs of shape {tuple(logits.shape)} for "
                          f"{expected[0]} records; expected logits of shape {expected}")
    if not torch.isfinite(logits).all():
        raise PluginError(f"{who}: its trained model outputs NaN or infinite logits")


def model_key_parts(dataset: Component, target: Component, pool: LabeledData,
                    device: torch.device) -> dict[str, Any]:
    """Everything besides records and seed that determines a trained model's weights (the
    model-cache key): the data itself, the dataset and target with their options, torch and the
    device type. Attack options are not part of it: attacks never change the models."""
    return {
        "dataset": dataset.entry.name, "dataset_options": as_dict(dataset.options),
        "data": pool.fingerprint(), "target": target.entry.name,
        "target_options": as_dict(target.options),
        "target_version": f"{target.entry.origin.distribution} {target.entry.origin.version}",
        "torch": torch.__version__, "device": device.type,
    }


def default_members(dataset: Component, pool_size: int) -> int:
    """Members when ``--members`` is not given: the dataset's ``suggested_members`` if it
    declares one, else 12,000 (the demo's), capped at a quarter of the records so members,
    non-members, population and control decoys all fit (MNIST's 70,000 keep 12,000)."""
    suggested = getattr(dataset.instance, "suggested_members", None)
    if suggested is not None:
        if isinstance(suggested, bool) or not isinstance(suggested, int) or suggested < 2:
            raise PluginError(f"dataset '{dataset.entry.name}' (plugin "
                              f"'{dataset.entry.origin.plugin}') suggests {suggested!r} "
                              "members; it must be an integer >= 2")
        return suggested
    members = min(DEFAULT_MEMBERS, pool_size // 4)
    if members < 2:
        raise ConfigError(f"dataset '{dataset.entry.name}' has only {pool_size} records; "
                          "a split needs at least 8")
    return members


def population_size(config: ExperimentConfig, attacks: list[Component]) -> int:
    """Population records to draw: none unless an attack needs them; by default as many as
    the attacker would otherwise know (so reference models train on about as many records as
    the target)."""
    needs = [a.entry.name for a in attacks
             if a.instance.threat_model == ThreatModel.POPULATION]
    if config.population is not None:
        if needs and config.population < 2:
            raise ConfigError(f"attack(s) {', '.join(needs)} need population records; "
                              f"--population {config.population} is too small")
        return config.population
    return 2 * known_count(config.members, config.known_fraction) if needs else 0


def _load(dataset: Component, env: LoadEnv) -> LabeledData:
    data = _call(dataset, "load", env)
    who = f"dataset '{dataset.entry.name}' (plugin '{dataset.entry.origin.plugin}')"
    if not isinstance(data, LabeledData):
        raise PluginError(f"{who} load() returned {type(data).__name__}, not LabeledData")
    if data.x.is_floating_point() and not torch.isfinite(data.x).all():
        bad = int((~torch.isfinite(data.x)).flatten(1).any(1).sum())
        raise PluginError(f"{who} returned {bad} record(s) with NaN or infinite inputs")
    return data


def _call(component: Component, method: str, *args: Any) -> Any:
    """Call a plugin method; a plugin's own crash is reported with the plugin's name."""
    entry = component.entry
    who = f"{entry.kind} '{entry.name}' (plugin '{entry.origin.plugin}')"
    try:
        return getattr(component.instance, method)(*args)
    except TrainingDiverged as exc:  # raised by the core's trainer: say whose training it was
        raise PluginError(f"{who}: {exc}") from exc
    except MiaError:  # already user-facing
        raise
    except SystemExit as exc:  # a plugin must not end the run silently
        raise PluginError(f"{who} called exit({exc.code!r}) in {method}()") from None
    except Exception as exc:
        raise PluginError(f"{who} failed in {method}(): {type(exc).__name__}: {exc}") from exc


def _evaluation_order(split: Any, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluation records in a seeded random order, so position reveals no membership."""
    index = torch.cat([split.eval_members, split.eval_nonmembers])
    is_member = torch.arange(len(index)) < len(split.eval_members)
    order = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))
    return index[order], is_member[order]

