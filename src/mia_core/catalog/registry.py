"""Name -> factory registries, one per component kind, and the checks of each registration."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from mia_core.capabilities import declaration_problem
from mia_core.catalog.kinds import BY_NAME
from mia_core.errors import ConfigError, PluginError, did_you_mean
from mia_core.options import check_options_class
from mia_core.threats import ThreatModel

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@attrs.frozen
class Origin:
    """Where a registration came from: the plugin (entry-point name) and its distribution."""

    plugin: str
    distribution: str = "?"
    version: str = "?"


@attrs.frozen
class Entry:
    """One registered component: everything needed to list it and to build it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    description: str
    options: type | None
    origin: Origin

    @property
    def who(self) -> str:
        """How messages name it: ``attack 'lira' (plugin 'mia-torch-attack')``."""
        return f"{self.kind} '{self.name}' (plugin '{self.origin.plugin}')"

    def build(self, options: Any = None) -> Any:
        """Instantiate the component with its (validated) options object."""
        if self.options is None:
            return self.factory()
        return self.factory(options if options is not None else self.options())


class Registry:
    """All components of one kind, keyed by name.

    Two plugins may register the same name (two ``digits`` datasets). Then the bare name is
    ambiguous: asking for it is a usage error that lists the qualified names,
    ``DISTRIBUTION:NAME`` (or ``PLUGIN:NAME``), which pick one without uninstalling the
    other. Picking either silently would run code the user did not choose.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, list[Entry]] = {}

    def add(self, entry: Entry) -> None:
        self._entries.setdefault(entry.name, []).append(entry)

    def get(self, name: str) -> Entry:
        """The entry called ``name`` (bare, or qualified as ``DISTRIBUTION:NAME``)."""
        prefix, _, bare = name.rpartition(":")
        found = self._entries.get(bare, [])
        if prefix:
            chosen = [e for e in found if prefix in (e.origin.distribution, e.origin.plugin)]
            if len(chosen) == 1:
                return chosen[0]
            raise ConfigError(f"no {self.kind} '{bare}' comes from '{prefix}'"
                              + (f"; it comes from {', '.join(qualified(e) for e in found)}"
                                 if found else f" ({self.unknown_message(bare)})"))
        if len(found) == 1:
            return found[0]
        if found:
            raise ConfigError(self.conflict(bare))
        raise ConfigError(self.unknown_message(name))

    def conflict(self, name: str) -> str | None:
        """What to say when the bare ``name`` is asked for, if two plugins provide it."""
        found = sorted(self._entries.get(name, []), key=lambda e: e.origin.distribution)
        if len(found) < 2:
            return None
        return (f"{self.kind} '{name}' is provided by {len(found)} plugins: "
                f"{' and '.join(_who(e.origin) for e in found)}; choose one by its "
                f"qualified name: {' or '.join(qualified(e) for e in found)}")

    def unknown_message(self, name: str) -> str:
        names = sorted(self._entries)
        msg = f"unknown {self.kind} '{name}'" + did_you_mean(name, names)
        available = ", ".join(names) if names else "none installed"
        return f"{msg} (available: {available}; see mia-run --list-plugins)"

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        prefix, _, bare = name.rpartition(":")
        return any(not prefix or prefix in (e.origin.distribution, e.origin.plugin)
                   for e in self._entries.get(bare, []))

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted((e for found in self._entries.values() for e in found),
                           key=lambda e: (e.name, e.origin.distribution)))

    def __len__(self) -> int:
        return sum(len(found) for found in self._entries.values())


def qualified(entry: Entry) -> str:
    """``DISTRIBUTION:NAME``, the name that picks ``entry`` when two plugins share its name."""
    return f"{entry.origin.distribution}:{entry.name}"


def _who(origin: Origin) -> str:
    return f"plugin '{origin.plugin}' ({origin.distribution} {origin.version})"


def make_entry(
    kind: str,
    origin: Origin,
    name: object,
    factory: object,
    description: object = "",
    options: object = None,
) -> Entry:
    """Validate one ``register(...)`` call and turn it into an :class:`Entry`."""
    where = f"plugin '{origin.plugin}' registered {kind}"
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise PluginError(
            f"{where} with invalid name {name!r}: use lower-case letters, digits, '-' or '_'"
        )
    if not callable(factory):
        raise PluginError(f"{where} '{name}' with a factory that is not callable: {factory!r}")
    if not isinstance(description, str):
        raise PluginError(f"{where} '{name}' with a description that is not a string")
    if options is not None:
        problem = check_options_class(options)
        if problem:
            raise PluginError(f"{where} '{name}' with bad options: {problem}")
    problem = interface_problem(kind, factory, built=False) if isinstance(factory, type) else None
    if problem:
        raise PluginError(f"{where} '{name}' with class {factory.__name__}, which {problem}")
    summary = description.strip().splitlines()[0] if description.strip() else ""
    return Entry(kind, name, factory, summary, options, origin)  # type: ignore[arg-type]


def interface_problem(kind: str, obj: object, built: bool) -> str | None:
    """Why ``obj`` (a registered class, or a ``built`` instance) is not a valid ``kind``."""
    method = BY_NAME[kind].method
    if not callable(getattr(obj, method, None)):
        return f"has no {method}() method (a {kind} needs one)"
    problem = declaration_problem(obj, BY_NAME[kind].flags)
    if problem:
        return problem
    if kind == "attack":
        threat = getattr(obj, "threat_model", None)  # a class may set it per instance
        if (built or threat is not None) and threat not in {t.value for t in ThreatModel}:
            return (f"declares unknown threat model {threat!r}; use one of "
                    f"{', '.join(t.value for t in ThreatModel)}")
    return None
