"""Name -> factory registries, one per component kind, and the checks of each registration."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs

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
        """How messages name it: ``attack 'lira' (plugin 'torch_attack')``."""
        return f"{self.kind} '{self.name}' (plugin '{self.origin.plugin}')"

    def build(self, options: Any = None) -> Any:
        """Instantiate the component with its (validated) options object."""
        if self.options is None:
            return self.factory()
        return self.factory(options if options is not None else self.options())


class Registry:
    """All components of one kind, keyed by name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self.conflicts: dict[str, str] = {}

    def add(self, entry: Entry) -> None:
        """Add ``entry``; a second entry of the same name makes that name unusable.

        Picking either provider silently would run code the user did not choose, so the name
        stays listed but asking for it raises an error naming both distributions.
        """
        existing = self._entries.get(entry.name)
        if existing is None:
            self._entries[entry.name] = entry
            return
        self.conflicts[entry.name] = (
            f"{self.kind} '{entry.name}' is registered twice: by {_who(existing.origin)} and by "
            f"{_who(entry.origin)}; uninstall one of the two distributions"
        )

    def get(self, name: str) -> Entry:
        if name in self.conflicts:
            raise PluginError(self.conflicts[name])
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        names = sorted(self._entries)
        msg = f"unknown {self.kind} '{name}'" + did_you_mean(name, names)
        available = ", ".join(names) if names else "none installed"
        return f"{msg} (available: {available}; see mia-run --list-plugins)"

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)


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
    if kind == "attack":
        threat = getattr(obj, "threat_model", None)  # a class may set it per instance
        if (built or threat is not None) and threat not in {t.value for t in ThreatModel}:
            return (f"declares unknown threat model {threat!r}; use one of "
                    f"{', '.join(t.value for t in ThreatModel)}")
    return None
