"""Audit from Python (a script or a notebook): :func:`audit` runs the command line's experiment.

The call is turned into the ``mia-run`` arguments that describe it, and those are parsed by the
command itself and run by the same code (:func:`mia_core.cli.mia_run.measure_seeds`): the same
defaults, checks, plan and numbers as the command line, to the bit, and an equivalent command
(:attr:`Audit.command`) that reruns it. What the command line reads from files is written
first into the audit's folder: in-memory records (``tensors`` dataset), a trained model's
weights (safetensors) and its member ids. A class or training function is named by its file
(a top-level module, so worker processes import it by path) or its package module; the class
of a notebook cell (``__main__``) trains in this process only (``workers=1``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mia_core.api.arguments import arguments
from mia_core.api.result import Audit
from mia_core.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["Audit", "audit", "run_arguments"]


def audit(model: type[nn.Module] | nn.Module | str,
          data: str | tuple[torch.Tensor, torch.Tensor] | torch.utils.data.Dataset, *,
          attacks: str | Iterable[str] = ("loss-threshold",),
          member_ids: Sequence[int] | torch.Tensor | None = None,
          train: Callable[..., Any] | None = None,
          kwargs: Mapping[str, Any] | None = None,
          options: Mapping[str, Mapping[str, Any]] | None = None,
          output: str | Path | None = None, quiet: bool = False,
          **settings: Any) -> Audit:
    """Run a membership-inference audit and return what it found.

    - ``model``: an ``nn.Module`` class (trained here, for the target and every reference
      model), a trained ``nn.Module`` (audited as given: ``member_ids`` are the records it was
      trained on), or a target's name (``"cnn"``).
    - ``data``: a dataset's name (``"digits"``), a tuple ``(x, y)`` of tensors, or a torch
      ``Dataset`` of ``(x, y)`` pairs, exactly what the model takes.
    - ``attacks``: names, as ``--attack``; ``train``: your training function,
      ``train(model, loader, device)`` (``-o python.train``); ``kwargs``: the class's
      constructor arguments; ``options``: ``{component: {option: value}}``, as ``-o``.
    - ``settings``: any other ``mia-run`` flag by its Python name: ``members=200``,
      ``reference_models=4``, ``seed=1``, ``seeds=3``, ``workers=2``, ``no_cache=True`` ...
    - ``output``: the folder for results.json, the scores and the report (default: a new
      temporary folder); ``quiet``: no progress (otherwise a bar in Jupyter, stderr elsewhere).

    Bad input raises :class:`mia_core.MiaError` with the command line's message.
    """
    folder = (Path(output) if output is not None
              else Path(tempfile.mkdtemp(prefix="mia-audit-"))).resolve()  # a command for anywhere
    found = arguments(model, data, attacks, member_ids, train, kwargs, options, folder, quiet,
                      settings)
    return run_arguments(found, folder, quiet)


def run_arguments(arguments: Sequence[str], folder: Path, quiet: bool) -> Audit:
    """Parse ``arguments`` with the ``mia-run`` command and run them as it does."""
    import click

    from mia_core.cli.mia_run import (
        experiment_config,
        measure_seeds,
        open_run,
        run,
        use_threads,
    )
    from mia_core.progress import progress_for

    try:
        context = run.make_context("mia-run", list(arguments))
    except click.UsageError as exc:
        raise ConfigError(exc.format_message()) from None
    with context:
        settings, options, how, cache, catalog = open_run(dict(context.params))
        config = experiment_config(settings, options, how)
        use_threads(how)
        results = measure_seeds(config, catalog, how, cache, progress_for(quiet or how.quiet))
    return Audit(tuple(results), folder, tuple(arguments))
