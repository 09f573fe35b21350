"""Whether the chosen target takes the dataset's records, found before any training.

A dataset of 30 features and a target of square images is the user's choice of components,
not a plugin's fault: it is one usage error (exit 2) naming the records and the installed
targets that do take them. The check is a dry build: the target's ``build`` on two records
(a target says it cannot take them by raising :class:`~mia_core.ConfigError` there), then its
untrained model on those records, which must answer with logits, one row per record.
"""

from __future__ import annotations

import torch

from mia_core.capabilities import capable
from mia_core.catalog.catalog import Catalog
from mia_core.catalog.registry import Entry
from mia_core.data import LabeledData
from mia_core.errors import ConfigError, MiaError, PluginError, describe
from mia_core.experiment.plan import Plan, build_component
from mia_core.training.targets import BuildableTarget, trains

SAMPLE = 2  # records the dry build sees (two, so a batch norm in training mode would work)


def check_target_takes(plan: Plan, pool: LabeledData, catalog: Catalog) -> None:
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


def records_text(data: LabeledData) -> str:
    """"records of shape (1, 28, 28), float32, 10 classes"."""
    dtype = str(data.x.dtype).removeprefix("torch.")
    return f"records of shape {tuple(data.x.shape[1:])}, {dtype}, {data.num_classes} classes"


def problem_with(target: object, who: str, sample: LabeledData) -> str | None:
    """Why ``target`` cannot take ``sample`` (its ``build`` said so, or the model it built
    fails on the records or does not answer with logits), or ``None`` when it can. The
    global RNG is left as it was, so the run's numbers do not move."""
    with torch.random.fork_rng(devices=[]):
        try:
            model = target.build(sample)
        except ConfigError as exc:
            return str(exc)
        except MiaError:
            raise
        except Exception as exc:
            raise PluginError(f"{who} failed in build(): {describe(exc)}") from exc
        try:
            model.eval()
            with torch.no_grad():
                answer = model(sample.x)
        except Exception as exc:
            return f"its model fails on them ({describe(exc)})"
    expected = (len(sample), sample.num_classes)
    shape = tuple(answer.shape) if isinstance(answer, torch.Tensor) else type(answer).__name__
    if shape != expected:
        return (f"its model answers {len(sample)} records with {shape}, not logits of shape "
                f"{expected}")
    return None


def _takes(entry: Entry, sample: LabeledData) -> bool:
    """Whether the target ``entry``, with its default options, takes ``sample``."""
    try:
        instance = build_component("target", entry, {}).instance
        return (trains(instance) and capable(instance, BuildableTarget)
                and problem_with(instance, entry.who, sample) is None)
    except Exception:  # a target that needs options, or is broken: not offered
        return False
