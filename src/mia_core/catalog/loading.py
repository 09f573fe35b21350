"""Finding and loading plugins: entry points of group ``mia_core``, loaded on demand.

Each entry point is imported, registered and asked for its components on its own, so a plugin
that fails at any of those steps is reported by name (and listed as broken) while every other
plugin keeps working. Nothing here runs at import time.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import Any

import attrs
import pluggy

from mia_core import hookspecs
from mia_core.catalog.index import PluginIndex
from mia_core.catalog.registry import Entry, Origin, Registry, make_entry
from mia_core.catalog.selection import PluginSelection
from mia_core.errors import ConfigError, PluginError

ENTRY_POINT_GROUP = "mia_core"
# components of this repository's optional distributions: where to get them when missing
OPTIONAL = {
    ("executor", "ray"): "the optional distribution mia-ray-executor "
                         "(pip install -e plugins/ray_executor)",
    ("reporter", "mlflow"): "the optional distribution mia-mlflow-tracking "
                            "(pip install -e plugins/mlflow_tracking)",
}
KINDS: dict[str, str] = {
    "dataset": "register_datasets",
    "target": "register_targets",
    "attack": "register_attacks",
    "reporter": "register_reporters",
    "executor": "register_executors",
}


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

    @property
    def state(self) -> str:
        if self.skipped:
            return "blocked" if self.skipped.startswith("blocked") else "off"
        return "broken" if self.error else "ok"


@attrs.define
class Catalog:
    """Everything the installed plugins provide, plus what went wrong while loading them."""

    registries: dict[str, Registry]
    plugins: list[PluginInfo]
    warnings: list[str] = attrs.field(factory=list)  # e.g. -p names that matched nothing

    def get(self, kind: str, name: str) -> Entry:
        registry = self.registries[kind]
        if name in registry:
            return registry.get(name)
        for p in self.plugins:
            if p.skipped and (kind, name) in p.provides:
                raise ConfigError(f"{kind} '{name}' comes from plugin '{p.name}' "
                                  f"({p.distribution} {p.version}), which is not loaded: "
                                  f"{p.skipped}")
        msg = registry.unknown_message(name)
        if (kind, name) in OPTIONAL:
            msg += f"; it comes with {OPTIONAL[kind, name]}"
        skipped = [f"{p.name} [{p.skipped}]" for p in self.plugins if p.skipped]
        if skipped:
            msg += f"; plugins not loaded: {', '.join(skipped)}"
        broken = [p.name for p in self.plugins if p.error]
        if broken:
            msg += f"; broken plugins: {', '.join(broken)}"
        raise ConfigError(msg)

    def check_strict(self) -> None:
        """For --strict-plugins: the first plugin that failed to load becomes an error."""
        for p in self.plugins:
            if p.error:
                raise PluginError(f"plugin '{p.name}' ({p.distribution} {p.version}) failed "
                                  f"to load: {p.error}")

    def entries(self, kind: str) -> list[Entry]:
        return list(self.registries[kind])


def discover(group: str = ENTRY_POINT_GROUP) -> list[metadata.EntryPoint]:
    """The installed entry points of ``group``, in a stable order."""
    return sorted(metadata.entry_points(group=group), key=lambda ep: ep.name)


def load_catalog(
    entry_points: Iterable[metadata.EntryPoint] | None = None,
    extra: Sequence[tuple[str, Any]] = (),
    selection: PluginSelection | None = None,
    index: PluginIndex | None = None,
) -> Catalog:
    """Load the selected plugins (entry points, ``-p`` modules, then ``extra`` ``(name,
    object)`` pairs) into a catalog; every entry point appears in its plugin list.

    ``index`` remembers what each plugin provides, so skipped plugins can still be named.
    """
    selection = selection or PluginSelection()
    index = index or PluginIndex(None)
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registries = {kind: Registry(kind) for kind in KINDS}
    infos: list[PluginInfo] = []
    eps = discover() if entry_points is None else list(entry_points)
    candidates = []
    for ep in eps:
        skipped = selection.why_skipped(ep.name)
        if skipped:
            dist = getattr(ep, "dist", None)
            who = (ep.name, dist.name if dist else "?", dist.version if dist else "?")
            infos.append(PluginInfo(*who, provides=index.provides(*who), skipped=skipped))
        else:
            candidates.append(_from_entry_point(ep))
    known = {ep.name for ep in eps}
    candidates += [_from_module(name) for name in selection.enable if name not in known]
    if BUILTIN not in selection.block:
        candidates.append(_builtin())
    candidates += [(name, obj, Origin(name, "(in-process)", "-"), None) for name, obj in extra]
    for name, obj, origin, load_error in candidates:
        if obj is not None and pm.is_registered(obj):
            continue  # an installed plugin also passed in ``extra``: load it once
        error = load_error or _register(pm, name, obj)
        if error:
            infos.append(PluginInfo(name, origin.distribution, origin.version, error=error))
            continue
        infos.append(_collect(pm, name, origin, registries))
    index.update({index.key(p.name, p.distribution, p.version): p.provides
                  for p in infos if p.state == "ok"})
    return Catalog(registries, sorted(infos, key=lambda p: p.name),
                   _selection_warnings(selection, known, infos))


def _selection_warnings(selection: PluginSelection, known: set[str],
                        infos: list[PluginInfo]) -> list[str]:
    """-p / MIA_PLUGINS names that matched nothing: a typo must not pass silently."""
    installed = ", ".join(sorted(known)) or "none"
    failed = {p.name: p.error for p in infos if p.error}
    warnings = [f"warning: -p {name} loaded nothing ({failed[name].removeprefix(f'-p {name}: ')}); "
                f"installed plugins: {installed}"
                for name in selection.enable if name not in known and name in failed]
    warnings += [f"warning: -p no:{name} matches no installed plugin (installed plugins: "
                 f"{installed})" for name in sorted(selection.block - known - {BUILTIN})]
    warnings += [f"warning: {name!r} in MIA_PLUGINS matches no installed plugin (installed "
                 f"plugins: {installed})" for name in sorted((selection.only or set()) - known)]
    return warnings


def _from_entry_point(ep: metadata.EntryPoint) -> tuple[str, Any, Origin, str | None]:
    dist = getattr(ep, "dist", None)
    origin = Origin(ep.name, dist.name if dist else "?", dist.version if dist else "?")
    try:
        return ep.name, ep.load(), origin, None
    except (Exception, SystemExit) as exc:  # a broken plugin must not break the others
        return ep.name, None, origin, f"import of '{ep.value}' failed: {_describe(exc)}"


BUILTIN = "builtin"


def _builtin() -> tuple[str, Any, Origin, str | None]:
    """The core's own components, registered like a plugin."""
    from mia_core.default_plugins import builtin as builtins

    try:
        version = metadata.version("mia-core")
    except metadata.PackageNotFoundError:
        version = "?"
    return BUILTIN, builtins, Origin(BUILTIN, "mia-core", version), None


def _from_module(name: str) -> tuple[str, Any, Origin, str | None]:
    """``-p NAME`` for a name that is no entry point: import it as a module (as pytest does)."""
    origin = Origin(name, "(module)", "-")
    try:
        return name, importlib.import_module(name), origin, None
    except (Exception, SystemExit) as exc:
        return name, None, origin, (f"-p {name}: no such plugin entry point, and importing it "
                                    f"as a module failed: {_describe(exc)}")


def _register(pm: pluggy.PluginManager, name: str, obj: Any) -> str | None:
    """Register ``obj`` with pluggy and validate its hooks; the error text, or ``None``."""
    try:
        pm.register(obj, name=name)
    except Exception as exc:  # PluginValidationError, duplicate plugin names, ...
        return f"invalid plugin: {_describe(exc)}"
    try:
        pm.check_pending()  # hook implementations whose name matches no hook (misspelt)
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        return f"invalid plugin: {_describe(exc)}"
    if not pm.get_hookcallers(obj):
        pm.unregister(name=name)
        return "invalid plugin: it implements no mia_core hook"
    return None


def _collect(
    pm: pluggy.PluginManager, name: str, origin: Origin, registries: dict[str, Registry]
) -> PluginInfo:
    """Call this plugin's collector hooks; registrations go into ``registries``."""
    plugin = pm.get_plugin(name)
    hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
    others = [p for p in pm.get_plugins() if p is not plugin]
    staged: list[Entry] = []  # added only when every hook of the plugin succeeded
    for kind, hook_name in KINDS.items():
        if hook_name not in hooks:
            continue
        register = functools.partial(_stage, staged, kind, origin)
        try:  # through pluggy (tracing, ordering), restricted to this one plugin
            pm.subset_hook_caller(hook_name, remove_plugins=others)(register=register)
        except PluginError as exc:
            return PluginInfo(name, origin.distribution, origin.version, hooks, error=str(exc))
        except (Exception, SystemExit) as exc:
            error = f"hook {hook_name} raised {_describe(exc)}"
            return PluginInfo(name, origin.distribution, origin.version, hooks, error=error)
    provided: list[tuple[str, str]] = []
    for entry in staged:
        registries[entry.kind].add(entry)
        provided.append((entry.kind, entry.name))
    return PluginInfo(name, origin.distribution, origin.version, hooks, tuple(provided))


def _stage(staged: list[Entry], kind: str, origin: Origin, *args: Any, **kwargs: Any) -> None:
    try:
        staged.append(make_entry(kind, origin, *args, **kwargs))
    except TypeError as exc:
        raise PluginError(f"plugin '{origin.plugin}' called register wrongly: {exc}") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit: the plugin called exit({exc.code!r})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
