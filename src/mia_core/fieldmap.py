"""Read-only, dict-style access to the fields of a typed value.

Result parts (the config, the DP spend, the canary audit, per-class rows) were plain dicts
before they became attrs classes; reporters written against them read ``result.config["seed"]``
or ``result.config.items()``, and they keep working.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs


class FieldMap:
    """Mixin for attrs classes: ``value["name"]``, ``get``, ``keys``, ``items``, ``in``."""

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.keys() else default

    def keys(self) -> list[str]:
        return [f.name for f in attrs.fields(type(self))]

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((k, getattr(self, k)) for k in self.keys())

    def __contains__(self, key: object) -> bool:
        return key in self.keys()
