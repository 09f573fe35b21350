"""Helpers for testing a plugin without installing it (in the spirit of pytest's ``pytester``).

``run`` runs a whole experiment in-process with plugin modules or objects that need no entry
point, next to the installed plugins (or without them), and returns the result::

    from mia_core.testing import run

    import my_attack_plugin

    def test_my_attack_beats_chance():
        result = run(my_attack_plugin, dataset="tiny-images", target="cnn",
                     attacks=["my-attack"], options={"target": {"epochs": 10}})
        assert result.attack("my-attack").metrics.auc > 0.6

Two tiny synthetic datasets are always available to it: ``tiny-images`` (16x16 one-channel
class blobs, for image targets such as ``cnn``) and ``tiny-vectors`` (Gaussian clusters), each
with options ``size``, ``classes``, ``noise`` and ``seed``. :func:`tiny_images` and
:func:`tiny_vectors` return the same records directly.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from mia_core.catalog.index import PluginIndex
from mia_core.catalog.loading import load_catalog
from mia_core.catalog.selection import PluginSelection
from mia_core.config import ExperimentConfig
from mia_core.default_plugins import tiny_datasets
from mia_core.default_plugins.tiny_datasets import tiny_images, tiny_vectors
from mia_core.errors import PluginError
from mia_core.progress import QUIET
from mia_core.results.types import ExperimentResult, RunArtifacts
from mia_core.training.cache import ModelCache

__all__ = ["TestRun", "run", "run_with_artifacts", "tiny_images", "tiny_vectors"]


@attrs.frozen(eq=False)
class TestRun:
    """What :func:`run_with_artifacts` returns: the result and the per-record artefacts."""

    __test__ = False  # not a pytest test class

    result: ExperimentResult
    artifacts: RunArtifacts


def run(*plugins: Any, dataset: str, attacks: Iterable[str], target: str = "cnn",
        installed: bool = True, options: Mapping[str, Mapping[str, Any]] | None = None,
        cache_dir: Path | None = None, **config: Any) -> ExperimentResult:
    """Run one experiment in-process and return its :class:`ExperimentResult`.

    ``plugins``: modules or objects with hook implementations, or ``(name, object)`` pairs;
    they need no entry point. ``installed=False`` leaves the installed plugins out (the tiny
    datasets and the core's own components stay). ``options`` maps a component label to
    option values (typed values or text, as after ``-o``). Further keywords are
    :class:`ExperimentConfig` fields (``members``, ``seed``, ``reference_models``,
    ``population``, ``control``, ``known_fraction``, ``device``, ``executor``, ``workers``;
    ``device`` defaults to ``cpu``). Nothing is cached unless ``cache_dir`` is given.
    """
    return run_with_artifacts(*plugins, dataset=dataset, attacks=attacks, target=target,
                              installed=installed, options=options, cache_dir=cache_dir,
                              **config).result


def run_with_artifacts(*plugins: Any, dataset: str, attacks: Iterable[str], target: str = "cnn",
                       installed: bool = True,
                       options: Mapping[str, Mapping[str, Any]] | None = None,
                       cache_dir: Path | None = None, **config: Any) -> TestRun:
    """:func:`run`, also returning the split, evaluation order, scores and target weights."""
    from mia_core.experiment.run import run_experiment

    extra = [("mia-testing", tiny_datasets), *(_named(p) for p in plugins)]
    selection = PluginSelection() if installed else PluginSelection(autoload=False)
    catalog = load_catalog(extra=extra, selection=selection, index=PluginIndex(None))
    broken = [f"{p.name}: {p.error}" for p in catalog.plugins
              if p.error and p.name in {name for name, _ in extra}]
    if broken:
        raise PluginError(f"plugin failed to load: {'; '.join(broken)}")
    settings = {"device": "cpu", **config}
    experiment = ExperimentConfig(dataset=dataset, target=target, attacks=tuple(attacks),
                                  options={k: dict(v) for k, v in (options or {}).items()},
                                  **settings)
    result, artifacts = run_experiment(experiment, catalog, progress=QUIET,
                                       cache=ModelCache(cache_dir))
    return TestRun(result, artifacts)


def _named(plugin: Any) -> tuple[str, Any]:
    if isinstance(plugin, tuple):
        return plugin
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__, plugin
    return getattr(plugin, "__name__", type(plugin).__name__), plugin
