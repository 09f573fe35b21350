"""The plugin listing (``mia-run --list-plugins``), as text or as JSON-ready data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mia_core.answers import answers_of
from mia_core.capabilities import signals_needed
from mia_core.catalog.catalog import Catalog
from mia_core.catalog.kinds import NAMES, names_text
from mia_core.catalog.registry import Entry, qualified
from mia_core.errors import ConfigError, MiaError, describe, did_you_mean
from mia_core.options import describe_options


def listing_data(catalog: Catalog) -> dict[str, Any]:
    data: dict[str, Any] = {
        "plugins": [
            {"name": p.name, "distribution": p.distribution, "version": p.version,
             "state": p.state, "hooks": list(p.hooks),
             "provides": [f"{kind}:{name}" for kind, name in p.provides], "error": p.error,
             "skipped": p.skipped}
            for p in catalog.plugins
        ]
    }
    for kind in NAMES:
        registry = catalog.registries[kind]
        data[f"{kind}s"] = [
            {"name": qualified(e) if registry.conflict(e.name) else e.name,
             "description": e.description, "plugin": e.origin.plugin,
             "distribution": e.origin.distribution, "version": e.origin.version,
             "options": describe_options(e.options), "error": registry.conflict(e.name)}
            for e in registry
        ]
    return data


def format_listing(catalog: Catalog) -> str:
    data = listing_data(catalog)
    lines: list[str] = []
    for kind in NAMES:
        lines.append(f"{kind}s:")
        rows = data[f"{kind}s"]
        if not rows:
            lines.append("  (none installed)")
        width = max((len(r["name"]) for r in rows), default=0)
        for r in rows:
            lines.append(f"  {r['name']:<{width}}  {r['description']}  "
                         f"[{r['distribution']} {r['version']}]")
            if r["error"]:
                lines.append(f"  {'':<{width}}  SHARED NAME: {r['error']}")
        lines.append("")
    lines.append("plugins:")
    if not data["plugins"]:
        lines.append("  (none installed)")
    for p in data["plugins"]:
        head = f"  {p['name']} ({p['distribution']} {p['version']})"
        if p["skipped"]:
            seen = f"; provided last time: {', '.join(p['provides'])}" if p["provides"] else ""
            lines.append(f"{head}  NOT LOADED: {p['skipped']}{seen}")
        elif p["error"]:
            lines.append(f"{head}  BROKEN: {p['error']}")
        else:
            provides = ", ".join(p["provides"]) or "nothing"
            lines.append(f"{head}  hooks: {', '.join(p['hooks'])}; provides: {provides}")
    return "\n".join(lines)


def signals_text(entry: Entry) -> dict[str, Any]:
    """What a target's models answer with and the signals they give, or the signals an
    attack reads, with default options (empty for other kinds, or when it cannot be built
    without options)."""
    if entry.kind not in ("target", "attack"):
        return {}
    try:
        instance = entry.build()
        if entry.kind == "attack":
            return {"reads": list(signals_needed(instance))}
        answers = answers_of(instance)
    except Exception:  # a component that needs options: nothing to add
        return {}
    return {"answers": answers.name, "signals": sorted(answers.signals)}


def describe_data(catalog: Catalog, name: str,
                  data_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every component called ``name`` (a dataset and an attack may share a name); a
    dataset's records are loaded (never downloaded) to say what the model is handed."""
    found = [
        {"kind": kind, "name": e.name, "description": e.description,
         "plugin": e.origin.plugin, "distribution": e.origin.distribution,
         "version": e.origin.version, "options": describe_options(e.options),
         **signals_text(e),
         **({"records": records_text(e, data_dir)} if kind == "dataset" else {})}
        for kind in NAMES for e in catalog.registries[kind] if e.name == name
    ]
    if not found:
        names = sorted({e.name for kind in NAMES for e in catalog.registries[kind]})
        raise ConfigError(f"no {names_text()} called '{name}'{did_you_mean(name, names)} "
                          "(see mia-run --list-plugins)")
    return found


def records_text(entry: Any, data_dir: Path | None) -> str:
    """What a dataset with its default options hands the model (:meth:`Records.summary`), or
    why that cannot be said here."""
    from mia_core.data import LoadEnv
    from mia_core.downloads import NotDownloaded, offline
    from mia_core.progress import QUIET

    try:
        instance = entry.build()
        with offline():
            records = instance.load(LoadEnv(data_dir, QUIET))
    except NotDownloaded as exc:
        return f"unknown until downloaded: {exc}"
    except (MiaError, ValueError) as exc:  # an option or a file it needs: the user's line
        return f"unknown here: {exc}"
    except Exception as exc:
        return f"unknown here: {describe(exc)}"
    return records.summary()


def format_description(found: list[dict[str, Any]]) -> str:
    lines = []
    for c in found:
        lines.append(f"{c['kind']} '{c['name']}': {c['description']}")
        lines.append(f"  from plugin '{c['plugin']}' ({c['distribution']} {c['version']})")
        if "records" in c:
            lines.append(f"  records (what the model is handed, default options): "
                         f"{c['records']}")
        if "reads" in c:
            lines.append(f"  reads the target's {', '.join(c['reads'])} (mia_core.SIGNALS)")
        if "answers" in c:
            lines.append(f"  its models answer with {c['answers']}, which give "
                         f"{', '.join(c['signals'])}")
        if not c["options"]:
            lines.append("  no options")
            continue
        lines.append(f"  options (set with -o {c['kind']}.NAME=VALUE or -o {c['name']}.NAME="
                     "VALUE):")
        for o in c["options"]:
            choices = f", one of {'|'.join(map(str, o['choices']))}" if o["choices"] else ""
            lines.append(f"    {o['name']} ({o['type']}, default {o['default']!r}{choices})"
                         f"  {o['help']}")
            if c["kind"] == "target" and o["name"] == "precision":
                lines += [f"      {line}" for line in machine_formats()]
    return "\n".join(lines)


def machine_formats() -> list[str]:
    """What precision=auto chose on this machine, per model shape (mia_core.training.formats)."""
    from mia_core.training.formats import format_name, formats_file, speeds_text, stored_formats

    if formats_file() is None:
        return ["auto on this machine: the CPU-flag rule (MIA_FORMATS=off)"]
    stored = stored_formats()
    if not stored:
        return ["auto on this machine: nothing measured yet (the first training of a model "
                f"shape times each candidate; kept in {formats_file()})"]
    lines = []
    for shape, entry in sorted(stored.items()):
        chosen = format_name(entry["precision"], entry["channels_last"])
        speeds = speeds_text(entry.get("images_per_s", {}))
        lines.append(f"auto on this machine, {shape}: {chosen} (images/s {speeds}; measured "
                     f"{entry.get('measured', '?')})")
    return lines


def print_listing(catalog: Catalog, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(listing_data(catalog), indent=2, default=str))
    else:
        click.echo(format_listing(catalog))


def print_description(catalog: Catalog, name: str, as_json: bool,
                      data_dir: Path | None = None) -> None:
    data = describe_data(catalog, name, data_dir)
    click.echo(json.dumps(data, indent=2, default=str) if as_json else format_description(data))
