"""Whether the chosen components fit together, found before any training: the target takes
the dataset's records, and every attack reads only signals the target's models give.

A dataset of 30 features and a target of square images is the user's choice of components,
not a plugin's fault: it is one usage error (exit 2) naming the records and the installed
targets that do take them. The check is a dry build: the target's ``build`` on two records
(a target says it cannot take them by raising :class:`~mia_core.ConfigError` there), then its
untrained model on those records, whose answers must be well-formed (for a classifier:
logits, one row per record).
"""

from __future__ import annotations

import torch

from mia_core.answers import answers_of
from mia_core.capabilities import capable, signals_needed
from mia_core.catalog.catalog import Catalog
from mia_core.catalog.registry import Entry
from mia_core.data import Records
from mia_core.errors import ConfigError, MiaError, PluginError, describe
from mia_core.experiment.plan import Plan, build_component
from mia_core.training.targets import BuildableTarget, trains

SAMPLE = 2  # records the dry build sees (two, so a batch norm in training mode would work)


def check_target_takes(plan: Plan, pool: Records, catalog: Catalog) -> None:
    """Raise a :class:`ConfigError` when ``plan``'s target cannot take ``pool``'s records."""
    target = plan.target
    if not capable(target.instance, BuildableTarget) or len(pool) == 0:
        return
    sample = pool.subset(torch.arange(min(SAMPLE, len(pool))))
    problem = problem_with(target.instance, target.who, sample)
    if problem is None:
        return
    fitting = [e.name for e in catalog.entries("target")
               if e.name != target.name and _takes(e, sample)]
    others = (f"targets that take them: {', '.join(fitting)} (--target NAME)" if fitting
              else "no installed target takes them")
    raise ConfigError(f"target '{target.name}' cannot take the records of dataset "
                      f"'{plan.dataset.name}' ({records_text(pool)}): {problem}; {others}")


def records_text(data: Records) -> str:
    """"records of shape (1, 28, 28), float32, 10 classes"."""
    dtype = str(data.x.dtype).removeprefix("torch.")
    classes = f"{data.num_classes} classes" if data.labelled else "no labels"
    lengths = ", of varying length" if data.lengths is not None else ""
    return f"records of shape {tuple(data.x.shape[1:])}, {dtype}{lengths}, {classes}"


def check_signals(plan: Plan) -> None:
    """Raise a :class:`ConfigError` when an attack needs a signal the target's models do
    not give (a classifier attack on a language model, say): a wrong pairing of
    components, said before any training."""
    answers = answers_of(plan.target.instance)
    for attack in plan.attacks:
        missing = [s for s in signals_needed(attack.instance) if s not in answers.signals]
        if missing:
            raise ConfigError(
                f"attack '{attack.name}' reads the target's {', '.join(missing)}, but target "
                f"'{plan.target.name}' answers with {answers.name}, which give "
                f"{', '.join(sorted(answers.signals))}; choose an attack that reads those "
                "(mia describe ATTACK says what it reads)")


def problem_with(target: object, who: str, sample: Records) -> str | None:
    """Why ``target`` cannot take ``sample`` (its ``build`` said so, or the model it built
    fails on the records or does not answer as the target says), or ``None`` when it can.
    The global RNG is left as it was, so the run's numbers do not move."""
    with torch.random.fork_rng(devices=[]):
        try:
            model = target.build(sample)
        except ConfigError as exc:
            return str(exc)
        except MiaError:
            raise
        except Exception as exc:
            raise PluginError(f"{who} failed in build(): {describe(exc)}") from exc
        answers = answers_of(target)
        try:
            answer = answers.answer(model, sample, torch.device("cpu"))
        except Exception as exc:
            return f"its model fails on them ({describe(exc)})"
    if not isinstance(answer, torch.Tensor):
        return f"its model answers with {type(answer).__name__}, not a tensor"
    return answers.problem(answer, sample)


def _takes(entry: Entry, sample: Records) -> bool:
    """Whether the target ``entry``, with its default options, takes ``sample``."""
    try:
        instance = build_component("target", entry, {}).instance
        return (trains(instance) and capable(instance, BuildableTarget)
                and problem_with(instance, entry.who, sample) is None)
    except Exception:  # a target that needs options, or is broken: not offered
        return False
