"""Which plugins load: the on/off knobs pytest and llm users know.

- ``MIA_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry-point plugin unless named with ``-p NAME``.
- ``MIA_PLUGINS=a,b``: load only these entry-point plugins (plus ``-p NAME``).
- ``-p NAME``: load plugin NAME for this run (an entry-point name, else an importable module).
- ``-p no:NAME``: block plugin NAME for this run (built-in plugins included).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import attrs

from mia_core.errors import ConfigError

AUTOLOAD_ENV = "MIA_DISABLE_PLUGIN_AUTOLOAD"
ONLY_ENV = "MIA_PLUGINS"


@attrs.frozen
class PluginSelection:
    autoload: bool = True
    only: frozenset[str] | None = None
    enable: tuple[str, ...] = ()
    block: frozenset[str] = frozenset()

    @classmethod
    def from_sources(cls, p_args: Sequence[str] = (),
                     environ: Mapping[str, str] | None = None) -> PluginSelection:
        env = os.environ if environ is None else environ
        enable, block = [], set()
        for arg in p_args:
            name = arg[3:] if arg.startswith("no:") else arg
            if not name.strip():
                raise ConfigError(f"-p expects NAME or no:NAME, got {arg!r}")
            (block.add(name) if arg.startswith("no:") else enable.append(name))
        both = block.intersection(enable)
        if both:
            raise ConfigError(f"plugin {sorted(both)[0]!r} is both enabled and blocked with -p")
        only_text = env.get(ONLY_ENV)
        only = None
        if only_text is not None:
            only = frozenset(n.strip() for n in only_text.split(",") if n.strip())
        autoload = env.get(AUTOLOAD_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}
        return cls(autoload, only, tuple(enable), frozenset(block))

    @property
    def p_args(self) -> tuple[str, ...]:
        """The ``-p`` arguments this selection was made from (what a rerun passes again)."""
        return (*self.enable, *(f"no:{name}" for name in sorted(self.block)))

    def why_skipped(self, name: str) -> str | None:
        """``None`` when entry-point plugin ``name`` loads, else why it does not."""
        if name in self.block:
            return f"blocked (-p no:{name})"
        if name in self.enable:
            return None
        if self.only is not None:
            return None if name in self.only else f"not in {ONLY_ENV}"
        if not self.autoload:
            return f"autoload off ({AUTOLOAD_ENV})"
        return None
