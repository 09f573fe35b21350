"""The plugin listing (``mia-run --list-plugins``), as text or as JSON-ready data."""

from __future__ import annotations

from typing import Any

from .options import describe_options
from .plugins import KINDS, Catalog


def listing_data(catalog: Catalog) -> dict[str, Any]:
    data: dict[str, Any] = {
        "plugins": [
            {"name": p.name, "distribution": p.distribution, "version": p.version,
             "state": p.state, "hooks": list(p.hooks),
             "provides": [f"{kind}:{name}" for kind, name in p.provides], "error": p.error}
            for p in catalog.plugins
        ]
    }
    for kind in KINDS:
        registry = catalog.registries[kind]
        data[f"{kind}s"] = [
            {"name": e.name, "description": e.description, "plugin": e.origin.plugin,
             "distribution": e.origin.distribution, "version": e.origin.version,
             "options": describe_options(e.options),
             "error": registry.conflicts.get(e.name)}
            for e in registry
        ]
    return data


def format_listing(catalog: Catalog) -> str:
    data = listing_data(catalog)
    lines: list[str] = []
    for kind in KINDS:
        lines.append(f"{kind}s:")
        rows = data[f"{kind}s"]
        if not rows:
            lines.append("  (none installed)")
        width = max((len(r["name"]) for r in rows), default=0)
        for r in rows:
            lines.append(f"  {r['name']:<{width}}  {r['description']}  "
                         f"[{r['distribution']} {r['version']}]")
            if r["error"]:
                lines.append(f"  {'':<{width}}  CONFLICT: {r['error']}")
        lines.append("")
    lines.append("plugins:")
    if not data["plugins"]:
        lines.append("  (none installed)")
    for p in data["plugins"]:
        head = f"  {p['name']} ({p['distribution']} {p['version']})"
        if p["error"]:
            lines.append(f"{head}  BROKEN: {p['error']}")
        else:
            lines.append(f"{head}  hooks: {', '.join(p['hooks'])}")
    return "\n".join(lines)
