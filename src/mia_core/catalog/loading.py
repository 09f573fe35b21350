"""Finding and loading plugins: entry points of group ``mia_core``, loaded on demand.

Each entry point is imported, registered and asked for its components on its own, so a plugin
that fails at any of those steps is reported by name (and listed as broken) while every other
plugin keeps working. Nothing here runs at import time. ``MIA_TRACE_PLUGINS=1`` prints every
hook call with the plugin it goes to, for plugin authors.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import Any

import attrs
import pluggy

from mia_core import hookspecs
from mia_core.catalog.catalog import Catalog, PluginInfo
from mia_core.catalog.index import PluginIndex
from mia_core.catalog.kinds import KINDS
from mia_core.catalog.registry import Entry, Origin, Registry, make_entry
from mia_core.catalog.selection import PluginSelection
from mia_core.default_plugins import DEFAULT_PLUGINS, ELSEWHERE
from mia_core.errors import PluginError, describe

ENTRY_POINT_GROUP = "mia_core"
TRACE_ENV = "MIA_TRACE_PLUGINS"


@attrs.frozen
class Candidate:
    """A plugin about to be registered: its object, or why it could not even be imported."""

    name: str
    obj: Any
    origin: Origin
    error: str | None = None


def discover(group: str = ENTRY_POINT_GROUP) -> list[metadata.EntryPoint]:
    """The installed entry points of ``group``, in a stable order (by name, then by
    distribution: of two plugins with one name, the same one keeps the bare name)."""
    return sorted(metadata.entry_points(group=group),
                  key=lambda ep: (ep.name, getattr(getattr(ep, "dist", None), "name", "")))


def load_catalog(
    entry_points: Iterable[metadata.EntryPoint] | None = None,
    extra: Sequence[tuple[str, Any]] = (),
    selection: PluginSelection | None = None,
    index: PluginIndex | None = None,
) -> Catalog:
    """Load the selected plugins (entry points, ``-p`` modules, the default plugins, then
    ``extra`` ``(name, object)`` pairs) into a catalog; every entry point appears in its
    plugin list. ``index`` remembers what each plugin provides, so skipped plugins can still
    be named."""
    selection = selection or PluginSelection()
    index = index or PluginIndex(None)
    pm = _manager()
    registries = {kind.name: Registry(kind.name) for kind in KINDS}
    eps = discover() if entry_points is None else list(entry_points)
    infos = [_skipped(ep, selection, index) for ep in eps if selection.why_skipped(ep.name)]
    candidates = [_from_entry_point(ep) for ep in eps if not selection.why_skipped(ep.name)]
    defaults = {_short(path): path for path in DEFAULT_PLUGINS}
    known = {ep.name for ep in eps} | set(defaults)
    candidates += [_from_module(name) for name in selection.enable if name not in known]
    candidates += [_default(path) for name, path in defaults.items()
                   if name not in selection.block]
    candidates += [Candidate(name, obj, Origin(name, "(in-process)", "-")) for name, obj in extra]
    taken: dict[str, Origin] = {}
    clashes: list[str] = []
    for c in candidates:
        if c.obj is not None and pm.is_registered(c.obj):
            continue  # an installed plugin also passed in ``extra``: load it once
        name = c.name
        if name in taken:  # two distributions chose one plugin name: both load
            name = f"{c.origin.distribution}:{c.name}"
            clashes.append(f"warning: plugin name '{c.name}' is used by {_named(taken[c.name])} "
                           f"and by {_named(c.origin)}; the second is listed as '{name}' "
                           f"(-p no:{c.name} blocks both)")
        taken.setdefault(c.name, c.origin)
        error = c.error or _register(pm, name, c.obj)
        infos.append(PluginInfo(name, c.origin.distribution, c.origin.version, error=error)
                     if error else _collect(pm, name, c.origin, registries))
    index.update({index.key(p.name, p.distribution, p.version): p.provides
                  for p in infos if p.state == "ok"})
    return Catalog(registries, sorted(infos, key=lambda p: p.name),
                   _selection_warnings(selection, known, infos) + clashes, pm, ELSEWHERE,
                   selection.p_args)


def _named(origin: Origin) -> str:
    return f"{origin.distribution} {origin.version}"


def _manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if os.environ.get(TRACE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        pm.add_hookcall_monitoring(_trace_before, _trace_after)
    return pm


def _trace_before(hook_name: str, impls: Sequence[Any], kwargs: dict[str, Any]) -> None:
    names = ", ".join(impl.plugin_name for impl in impls) or "no plugin"
    print(f"mia-core trace: hook {hook_name} -> {names}", file=sys.stderr)


def _trace_after(outcome: Any, hook_name: str, impls: Sequence[Any],
                 kwargs: dict[str, Any]) -> None:
    failed = outcome.exception
    if failed is not None:
        print(f"mia-core trace: hook {hook_name} raised {describe(failed)}", file=sys.stderr)


def _short(path: str) -> str:
    return path.rpartition(".")[2]


def _skipped(ep: metadata.EntryPoint, selection: PluginSelection,
             index: PluginIndex) -> PluginInfo:
    dist = getattr(ep, "dist", None)
    who = (ep.name, dist.name if dist else "?", dist.version if dist else "?")
    return PluginInfo(*who, provides=index.provides(*who), skipped=selection.why_skipped(ep.name),
                      blocked=ep.name in selection.block)


def _selection_warnings(selection: PluginSelection, known: set[str],
                        infos: list[PluginInfo]) -> list[str]:
    """-p / MIA_PLUGINS names that matched nothing: a typo must not pass silently."""
    installed = ", ".join(sorted(known)) or "none"
    failed = {p.name: p.error for p in infos if p.error}
    warnings = [f"warning: -p {name} loaded nothing ({failed[name].removeprefix(f'-p {name}: ')}); "
                f"installed plugins: {installed}"
                for name in selection.enable if name not in known and name in failed]
    warnings += [f"warning: -p no:{name} matches no installed plugin (installed plugins: "
                 f"{installed})" for name in sorted(selection.block - known)]
    warnings += [f"warning: {name!r} in MIA_PLUGINS matches no installed plugin (installed "
                 f"plugins: {installed})" for name in sorted((selection.only or set()) - known)]
    return warnings


def _from_entry_point(ep: metadata.EntryPoint) -> Candidate:
    dist = getattr(ep, "dist", None)
    origin = Origin(ep.name, dist.name if dist else "?", dist.version if dist else "?")
    try:
        return Candidate(ep.name, ep.load(), origin)
    except (Exception, SystemExit) as exc:  # a broken plugin must not break the others
        return Candidate(ep.name, None, origin, f"import of '{ep.value}' failed: {describe(exc)}")


def _default(path: str) -> Candidate:
    """One of the core's own plugin modules, imported by path like any plugin."""
    try:
        version = metadata.version("mia-core")
    except metadata.PackageNotFoundError:
        version = "?"
    origin = Origin(_short(path), "mia-core", version)
    try:
        return Candidate(origin.plugin, importlib.import_module(path), origin)
    except (Exception, SystemExit) as exc:
        return Candidate(origin.plugin, None, origin, f"import of '{path}' failed: "
                         f"{describe(exc)}")


def _from_module(name: str) -> Candidate:
    """``-p NAME`` for a name that is no entry point: import it as a module (as pytest does)."""
    origin = Origin(name, "(module)", "-")
    try:
        return Candidate(name, importlib.import_module(name), origin)
    except (Exception, SystemExit) as exc:
        return Candidate(name, None, origin, f"-p {name}: no such plugin entry point, and "
                         f"importing it as a module failed: {describe(exc)}")


def _register(pm: pluggy.PluginManager, name: str, obj: Any) -> str | None:
    """Register ``obj`` with pluggy and validate its hooks; the error text, or ``None``."""
    try:
        pm.register(obj, name=name)
    except Exception as exc:  # PluginValidationError, duplicate plugin names, ...
        return f"invalid plugin: {describe(exc)}"
    try:
        pm.check_pending()  # hook implementations whose name matches no hook (misspelt)
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        return f"invalid plugin: {describe(exc)}"
    if not pm.get_hookcallers(obj):
        pm.unregister(name=name)
        return "invalid plugin: it implements no mia_core hook"
    return None


def call_for(pm: pluggy.PluginManager, name: str, hook_name: str, **kwargs: Any) -> Any:
    """Call hook ``hook_name`` of plugin ``name`` alone (through pluggy, so tracing sees it)."""
    others = [p for p in pm.get_plugins() if p is not pm.get_plugin(name)]
    return pm.subset_hook_caller(hook_name, remove_plugins=others)(**kwargs)


def _collect(pm: pluggy.PluginManager, name: str, origin: Origin,
             registries: dict[str, Registry]) -> PluginInfo:
    """Call this plugin's collector hooks; registrations go into ``registries``."""
    hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(pm.get_plugin(name)) or ()))
    staged: list[Entry] = []  # added only when every hook of the plugin succeeded
    for kind in KINDS:
        if kind.hook not in hooks:
            continue
        register = functools.partial(_stage, staged, kind.name, origin)
        try:
            call_for(pm, name, kind.hook, register=register)
        except PluginError as exc:
            return PluginInfo(name, origin.distribution, origin.version, hooks, error=str(exc))
        except (Exception, SystemExit) as exc:
            error = f"hook {kind.hook} raised {describe(exc)}"
            return PluginInfo(name, origin.distribution, origin.version, hooks, error=error)
    for entry in staged:
        registries[entry.kind].add(entry)
    provided = tuple((entry.kind, entry.name) for entry in staged)
    return PluginInfo(name, origin.distribution, origin.version, hooks, provided)


def _stage(staged: list[Entry], kind: str, origin: Origin, *args: Any, **kwargs: Any) -> None:
    try:
        staged.append(make_entry(kind, origin, *args, **kwargs))
    except TypeError as exc:
        raise PluginError(f"plugin '{origin.plugin}' called register wrongly: {exc}") from None
