"""Deprecated names of plugin loading, kept for one release for plugins written against the
docs of 28 Nov 2026 (their tests call ``mia_core.plugins.load_catalog(extra=...)``)."""

from __future__ import annotations

import warnings
from typing import Any


def load_catalog(*args: Any, **kwargs: Any) -> Any:
    """Deprecated: :func:`mia_core.catalog.loading.load_catalog`, which takes the same
    arguments (``extra=[(name, module)]`` loads plugins that are not installed)."""
    warnings.warn("mia_core.plugins.load_catalog is deprecated since mia-core 0.2.0 and goes "
                  "in 0.3.0: use mia_core.catalog.loading.load_catalog (same arguments), or "
                  "mia_core.testing.run to run an experiment with plugin modules",
                  DeprecationWarning, stacklevel=2)
    from mia_core.catalog.loading import load_catalog as current

    return current(*args, **kwargs)
