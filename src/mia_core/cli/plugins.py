"""The catalog as every command loads it: the user's plugin selection, the plugin index in
the model-cache folder, warnings on stderr, ``--strict-plugins``."""

from __future__ import annotations

from pathlib import Path

import click

from mia_core.catalog.catalog import Catalog


def cache_folder(cache_dir: Path | None, no_cache: bool) -> Path | None:
    """The model-cache folder of this run (``None`` with ``--no-cache``)."""
    if no_cache:
        return None
    from mia_core.training.cache import default_cache_dir

    return cache_dir or default_cache_dir()


def open_catalog(plugins: tuple[str, ...] = (), cache: Path | None = None,
                 strict: bool = False, quiet_warnings: bool = False) -> Catalog:
    """Load the plugins now (never at import time) with ``-p`` choices and the environment's
    knobs; ``cache``: the folder whose plugin index names skipped plugins' components."""
    from mia_core.catalog.index import INDEX_FILE, PluginIndex
    from mia_core.catalog.loading import load_catalog
    from mia_core.catalog.selection import PluginSelection

    selection = PluginSelection.from_sources(plugins)
    index = PluginIndex(cache / INDEX_FILE if cache is not None else None)
    catalog = load_catalog(selection=selection, index=index)
    if strict:
        catalog.check_strict()
    if not quiet_warnings:
        for warning in catalog.warnings:
            click.echo(warning, err=True)
    return catalog
