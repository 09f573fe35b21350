"""``mia cache list|clear``: what the model cache holds, how big it is, and removing it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mia_core.cli.errors import user_errors
from mia_core.errors import ConfigError


def entries(folder: Path) -> list[dict[str, Any]]:
    """Every cached model in ``folder``: its key, size and, where recorded, what it is."""
    found = []
    for weights in sorted(folder.glob("*.pt")):
        about: dict[str, Any] = {}
        sidecar = weights.with_suffix(".json")
        try:
            about = json.loads(sidecar.read_text()) if sidecar.exists() else {}
        except (OSError, ValueError):
            about = {}
        found.append({"key": weights.stem, "bytes": weights.stat().st_size, **about})
    return found


def _folder(cache_dir: Path | None) -> Path:
    from mia_core.training.cache import default_cache_dir

    return cache_dir or default_cache_dir()


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


cache_dir_option = click.option("--cache-dir", type=click.Path(path_type=Path),
                                help="The cache folder (default: $MIA_CACHE_DIR, else "
                                "~/.cache/mia-core/models).")


@click.group("cache", short_help="List or clear the model cache.")
def cache() -> None:
    """The trained-model cache: list what it holds, or clear it."""


@cache.command("list")
@cache_dir_option
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def list_cache(cache_dir: Path | None, as_json: bool) -> None:
    """Each cached model (dataset, target, seed, records, size) and the total."""
    with user_errors(False):
        folder = _folder(cache_dir)
        found = entries(folder) if folder.is_dir() else []
        total = sum(e["bytes"] for e in found)
        if as_json:
            click.echo(json.dumps({"folder": str(folder), "models": found, "bytes": total},
                                  indent=2))
            return
        click.echo(f"{folder}: {len(found)} model(s), {_size(total)}")
        for e in found:
            what = (f"{e['dataset']} / {e['target']} seed {e['seed']}, {e['records']} records, "
                    f"{e['device']}, torch {e['torch']}, {e['created']}"
                    if "dataset" in e else "(no description: written by an older mia-core)")
            click.echo(f"  {e['key']}  {_size(e['bytes']):>9}  {what}")


@cache.command("clear")
@cache_dir_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clear_cache(cache_dir: Path | None, yes: bool) -> None:
    """Remove every cached model (the next runs retrain them)."""
    with user_errors(False):
        folder = _folder(cache_dir)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"--cache-dir {folder} is not a folder")
        found = entries(folder) if folder.is_dir() else []
        if not found:
            click.echo(f"{folder}: nothing cached")
            return
        total = _size(sum(e["bytes"] for e in found))
        if not yes:
            click.confirm(f"remove {len(found)} cached model(s), {total}, from {folder}?",
                          abort=True, err=True)
        for e in found:
            for suffix in (".pt", ".json"):
                (folder / f"{e['key']}{suffix}").unlink(missing_ok=True)
        for logits in folder.glob("*.logits"):  # reference models' pool logits
            logits.unlink(missing_ok=True)
        click.echo(f"{folder}: removed {len(found)} model(s), {total}")
