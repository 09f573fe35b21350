"""The catalog: what the loaded plugins provide, and what went wrong while loading them."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import pluggy

from mia_core.catalog.registry import Entry, Registry
from mia_core.errors import ConfigError, PluginError


@attrs.frozen
class PluginInfo:
    """What the listing says about one plugin."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...] = ()
    provides: tuple[tuple[str, str], ...] = ()  # (kind, name) pairs
    error: str | None = None
    skipped: str | None = None  # why the plugin was not loaded (blocked, autoload off ...)
    blocked: bool = False  # skipped because -p no:NAME blocked it

    @property
    def state(self) -> str:
        """``ok``, ``broken``, ``blocked`` (-p no:NAME) or ``off`` (not selected)."""
        if self.skipped:
            return "blocked" if self.blocked else "off"
        return "broken" if self.error else "ok"


@attrs.define
class Catalog:
    """Everything the installed plugins provide, plus what went wrong while loading them."""

    registries: dict[str, Registry]
    plugins: list[PluginInfo]
    warnings: list[str] = attrs.field(factory=list)  # e.g. -p names that matched nothing
    manager: pluggy.PluginManager | None = attrs.field(default=None, repr=False)
    hints: Mapping[tuple[str, str], str] = attrs.field(factory=dict)  # where to get a name
    p_args: tuple[str, ...] = ()  # the -p choices it was loaded with (a rerun repeats them)

    def get(self, kind: str, name: str) -> Entry:
        registry = self.registries[kind]
        if name.rpartition(":")[2] in registry:  # one entry, or a usage error naming choices
            return registry.get(name)
        for p in self.plugins:
            if p.skipped and (kind, name) in p.provides:
                raise ConfigError(f"{kind} '{name}' comes from plugin '{p.name}' "
                                  f"({p.distribution} {p.version}), which is not loaded: "
                                  f"{p.skipped}")
        msg = registry.unknown_message(name)
        if (kind, name) in self.hints:
            msg += f"; it comes with {self.hints[kind, name]}"
        skipped = [f"{p.name} [{p.skipped}]" for p in self.plugins if p.skipped]
        if skipped:
            msg += f"; plugins not loaded: {', '.join(skipped)}"
        broken = [p.name for p in self.plugins if p.error]
        if broken:
            msg += f"; broken plugins: {', '.join(broken)}"
        if (kind, name) not in self.hints and not skipped:
            msg += (f"; a {kind} of your own that is not installed loads with -p MODULE (a "
                    "module Python can import: run from its folder with PYTHONPATH=.)")
        raise ConfigError(msg)

    def check_strict(self) -> None:
        """For --strict-plugins: the first plugin that failed to load becomes an error."""
        for p in self.plugins:
            if p.error:
                raise PluginError(f"plugin '{p.name}' ({p.distribution} {p.version}) failed "
                                  f"to load: {p.error}")

    def entries(self, kind: str) -> list[Entry]:
        return list(self.registries[kind])

    def loaded(self) -> list[PluginInfo]:
        """The plugins that loaded without error."""
        return [p for p in self.plugins if p.state == "ok"]
