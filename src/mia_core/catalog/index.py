"""What each installed plugin provided the last time it loaded.

A blocked or not-autoloaded plugin is never imported, so its component names are unknown to
this run; the index remembers them (per distribution and version) so that asking for one says
"blocked" instead of "unknown". A missing or unreadable index only makes messages less exact.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from mia_core.atomic import atomic_write

INDEX_FILE = "plugin-index.json"  # kept in the model cache folder (--cache-dir)


class PluginIndex:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, list[list[str]]] = {}
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                loaded = json.loads(path.read_text())
                if isinstance(loaded, dict):
                    self._data = loaded

    @staticmethod
    def key(plugin: str, distribution: str, version: str) -> str:
        return f"{plugin} {distribution} {version}"

    def provides(self, plugin: str, distribution: str, version: str) -> tuple[tuple[str, str], ...]:
        entries = self._data.get(self.key(plugin, distribution, version), [])
        return tuple((kind, name) for kind, name in entries)

    def update(self, found: dict[str, tuple[tuple[str, str], ...]]) -> None:
        """Record ``{key: provides}`` for the plugins that loaded; write only on change."""
        fresh = {**self._data, **{k: [list(p) for p in v] for k, v in found.items()}}
        if fresh == self._data or self.path is None:
            return
        self._data = fresh
        text = json.dumps(fresh, indent=1, sort_keys=True)
        with contextlib.suppress(OSError):
            atomic_write(self.path, lambda tmp: tmp.write_text(text))
