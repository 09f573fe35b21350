"""The plan of a run: every chosen component looked up, given its options and built, typed.

Planning does all the checking that needs no data (names, options, interfaces), so a typo
costs a second, not an hour of training.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import attrs
import torch

from mia_core.capabilities import ReferenceFreeAttack, capable
from mia_core.catalog.catalog import Catalog
from mia_core.catalog.kinds import KINDS, NAMES
from mia_core.catalog.registry import Entry, interface_problem
from mia_core.config import ExperimentConfig
from mia_core.errors import ConfigError, MiaError, PluginError, call_plugin, describe
from mia_core.options import as_dict, build_options, fields_of, unknown_option_message
from mia_core.threats import ThreatModel


@attrs.frozen
class Component:
    """A selected plugin component, built with its validated options. ``label`` is the key of
    its options in ``-o KEY.NAME=VALUE`` and in results.json: its kind for a component a run
    has one of (``dataset``, ``target``, ``executor``), its name for one of several (each
    attack and reporter)."""

    label: str
    entry: Entry
    options: Any
    instance: Any

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def who(self) -> str:
        return self.entry.who

    def call(self, method: str, *args: Any) -> Any:
        """Call one of its methods; anything it raises is blamed on it in one line."""
        return call_plugin(self.who, self.instance, method, *args)


@attrs.frozen
class Plan:
    """The components of one run, by kind (in the order of the kinds table)."""

    chosen: Mapping[str, tuple[Component, ...]]

    def one(self, kind: str) -> Component:
        """The run's component of a kind it has exactly one of."""
        (component,) = self.chosen[kind]
        return component

    @property
    def dataset(self) -> Component:
        return self.one("dataset")

    @property
    def target(self) -> Component:
        return self.one("target")

    @property
    def executor(self) -> Component:
        return self.one("executor")

    @property
    def attacks(self) -> tuple[Component, ...]:
        return self.chosen["attack"]

    @property
    def reporters(self) -> tuple[Component, ...]:
        return self.chosen["reporter"]

    @property
    def components(self) -> tuple[Component, ...]:
        return tuple(c for kind in KINDS for c in self.chosen[kind.name])

    def population_attacks(self) -> list[str]:
        return [a.name for a in self.attacks
                if a.instance.threat_model == ThreatModel.POPULATION]

    def reference_attacks(self) -> list[str]:
        """Population attacks that use reference models (all but those that declare
        ``needs_reference_models = False``, e.g. a quantile regressor on the population)."""
        return [a.name for a in self.attacks if a.name in self.population_attacks()
                and not capable(a.instance, ReferenceFreeAttack)]

    def options(self) -> dict[str, dict[str, Any]]:
        """The effective option values of every component, by label."""
        return {c.label: as_dict(c.options) for c in self.components}

    def versions(self) -> dict[str, str]:
        """Python, torch, mia-core and every distribution that provided a component."""
        found = {"python": platform.python_version(), "torch": torch.__version__,
                 "mia-core": _version("mia-core")}
        for c in self.components:
            found[c.entry.origin.distribution] = c.entry.origin.version
        return found


def make_plan(config: ExperimentConfig, catalog: Catalog) -> Plan:
    """Look up and build every component, validating options, before any work is done: for
    each kind of the kinds table, the names its run setting chooses."""
    roles = []
    for kind in KINDS:
        chosen = getattr(config, kind.setting)
        names = tuple(chosen) if kind.many else (chosen,)
        roles += [(kind.name, name if kind.many else kind.name, name) for name in names]
    entries = [(label, catalog.get(kind, name)) for kind, label, name in roles]
    routed = route_options(config.options, entries)
    built = [build_component(label, entry, routed[label]) for label, entry in entries]
    return Plan({kind.name: tuple(c for c in built if c.entry.kind == kind.name)
                 for kind in KINDS})


def build_component(label: str, entry: Entry, values: Mapping[str, Any]) -> Component:
    """``entry`` built with its options from ``values`` (defaults for the rest), checked
    against its kind's interface."""
    what = f"{entry.kind} '{entry.name}'"
    options = build_options(entry.options, values, what)
    try:
        instance = entry.build(options)
    except MiaError:  # already says what to do
        raise
    except Exception as exc:
        raise PluginError(f"{entry.who} failed to build: {describe(exc)}") from exc
    problem = interface_problem(entry.kind, instance, built=True)
    if problem:
        raise PluginError(f"{entry.who} {problem}")
    return Component(label, entry, options, instance)


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
            names = sorted({lbl for lbl, _ in entries} | set(NAMES))
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


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
