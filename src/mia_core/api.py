"""Audit from Python (a script or a notebook): :func:`audit` runs the command line's experiment.

The call is turned into the ``mia-run`` arguments that describe it, and those are parsed by the
command itself and run by the same code (:func:`mia_core.cli.mia_run.measure_seeds`): the same
defaults, checks, plan and numbers as the command line, to the bit, and an equivalent command
(:attr:`Audit.command`) that reruns it. What the command line reads from files is written
first into the audit's folder: in-memory records (``tensors`` dataset), a trained model's
weights (safetensors) and its member ids. A class or training function is named by its module,
so the class of a notebook cell (``__main__``) trains in this process only (``workers=1``).
"""

from __future__ import annotations

import inspect
import json
import shlex
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from mia_core.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    import torch
    from torch import nn

    from mia_core.results.types import ExperimentResult

INPUTS = "inputs"  # the folder, under the audit's, of the files the call's objects became


@attrs.frozen(repr=False)
class Audit:
    """What :func:`audit` found: ``results`` (one per seed), the ``folder`` holding
    results.json, the scores and the report, and the ``command`` that reruns it."""

    results: tuple[ExperimentResult, ...]
    folder: Path
    arguments: tuple[str, ...]

    @property
    def result(self) -> ExperimentResult:
        """The run's result (the first seed's, with several)."""
        return self.results[0]

    @property
    def table(self) -> str:
        """The summary the command line prints: the table of attacks and what it rests on."""
        from mia_core.cli.mia_run import summarise_seeds

        return summarise_seeds(list(self.results), as_json=False)

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """Each attack's metrics (AUC, TPR at low FPR, ε bounds ...) by attack name, as in
        results.json."""
        written = json.loads(json.dumps(self.result.to_dict()))  # lists, as the file holds
        return {a["name"]: a["metrics"] for a in written["attacks"]}

    @property
    def command(self) -> str:
        """The ``mia-run`` command line of this audit (its files are in :attr:`folder`)."""
        return shlex.join(["mia-run", *self.arguments])

    @property
    def report_file(self) -> Path:
        from mia_core.results.files import REPORT_FILE

        return self.folder / REPORT_FILE

    def write_report(self, path: str | Path) -> Path:
        """Write the HTML report (ROC, table, ε bounds, the most exposed records) to
        ``path``, never over an existing file; returns the path."""
        from mia_core.results.report import write_report

        path = Path(path)
        if path.exists():
            raise ConfigError(f"{path} exists; choose another file for the report")
        write_report([self.folder], path)
        return path

    def roc(self) -> Any:
        """The ROC curves as an image (shown inline in a notebook)."""
        from IPython.display import Image

        return Image(filename=str(self.folder / "roc.png"))

    def __str__(self) -> str:
        return self.table

    def __repr__(self) -> str:
        return self.table

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(self.table)}</pre>"


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
    arguments = _arguments(model, data, attacks, member_ids, train, kwargs, options, folder,
                           quiet, settings)
    return run_arguments(arguments, folder, quiet)


def run_arguments(arguments: Sequence[str], folder: Path, quiet: bool) -> Audit:
    """Parse ``arguments`` with the ``mia-run`` command and run them as it does."""
    import click

    from mia_core.cli.mia_run import (
        experiment_config,
        measure_seeds,
        merge_config_file,
        run,
        run_settings,
    )
    from mia_core.cli.plugins import cache_folder, open_catalog
    from mia_core.progress import progress_for

    try:
        context = run.make_context("mia-run", list(arguments))
    except click.UsageError as exc:
        raise ConfigError(exc.format_message()) from None
    with context:
        settings, options = merge_config_file(dict(context.params))
        how = run_settings(settings)
        cache = cache_folder(how.cache_dir, how.no_cache)
        catalog = open_catalog(how.plugins, cache, how.strict_plugins)
        config = experiment_config(settings, options, how)
        if how.threads:
            import torch

            torch.set_num_threads(how.threads)
        results = measure_seeds(config, catalog, how, cache, progress_for(quiet or how.quiet))
    return Audit(tuple(results), folder, tuple(arguments))


def _arguments(model: Any, data: Any, attacks: str | Iterable[str],
               member_ids: Any, train: Callable[..., Any] | None,
               kwargs: Mapping[str, Any] | None, options: Mapping[str, Mapping[str, Any]] | None,
               folder: Path, quiet: bool, settings: Mapping[str, Any]) -> list[str]:
    from torch import nn

    inputs = folder / INPUTS
    args = [*_data_arguments(data, inputs)]
    if isinstance(model, str):
        args += ["--target", model]
    elif isinstance(model, type) and issubclass(model, nn.Module):
        args += ["--target", "python", "-o", f"python.model={_spec(model)}"]
    elif isinstance(model, nn.Module):
        args += ["--target", "python", "-o", f"python.model={_spec(type(model))}",
                 *_given_arguments(model, member_ids, inputs)]
    else:
        raise ConfigError(f"model must be an nn.Module class, a trained nn.Module or a target's "
                          f"name, got {type(model).__name__}")
    if member_ids is not None and not isinstance(model, nn.Module):
        raise ConfigError("member_ids are the records a trained model was trained on: pass the "
                          "trained nn.Module, not its class (a class is trained here, on "
                          "members the run draws)")
    if kwargs:
        args += ["-o", f"python.kwargs={json.dumps(dict(kwargs))}"]
    if train is not None:
        args += ["-o", f"python.train={_spec(train)}"]
    for attack in [attacks] if isinstance(attacks, str) else attacks:
        args += ["--attack", attack]
    for component, values in (options or {}).items():
        for key, value in values.items():
            args += ["-o", f"{component}.{key}={_text(value)}"]
    args += _setting_arguments(settings)
    if any(a.startswith(("python.model=__main__:", "python.train=__main__:")) for a in args):
        args += _in_this_process(settings)
    args += ["--output", str(folder)]
    return [*args, "-q"] if quiet else args


def _in_this_process(settings: Mapping[str, Any]) -> list[str]:
    """A class or function of a notebook or script (``__main__``) exists in this process
    only: its models train here (``--workers 1``), never in worker processes or Ray tasks."""
    workers, executor = settings.get("workers"), settings.get("executor", "local")
    if executor != "local" or (workers is not None and workers != 1):
        raise ConfigError("the model class or training function is defined in this notebook or "
                          "script (__main__), which worker processes cannot import: put it in a "
                          ".py file and import it from there, or use workers=1")
    return [] if workers == 1 else ["--workers", "1"]


def _data_arguments(data: Any, inputs: Path) -> list[str]:
    import torch

    if isinstance(data, str):
        return ["--dataset", data]
    if isinstance(data, tuple) and len(data) == 2:
        x, y = (torch.as_tensor(t) for t in data)
    elif isinstance(data, torch.utils.data.Dataset):
        pairs = [data[i] for i in range(len(data))]  # type: ignore[arg-type]
        if not pairs or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
            raise ConfigError("a torch Dataset for data must give (x, y) pairs")
        x = torch.stack([torch.as_tensor(p[0]) for p in pairs])
        y = torch.as_tensor([int(p[1]) for p in pairs])
    else:
        raise ConfigError(f"data must be a dataset's name, a tuple (x, y) of tensors or a torch "
                          f"Dataset of (x, y) pairs, got {type(data).__name__}")
    from mia_core.default_plugins.tensor_file import save_tensors

    inputs.mkdir(parents=True, exist_ok=True)
    path = inputs / "data.safetensors"
    save_tensors(path, x, y)
    return ["--dataset", "tensors", "-o", f"tensors.path={path}"]


def _given_arguments(model: nn.Module, member_ids: Any, inputs: Path) -> list[str]:
    """A trained model's weights and member ids, as the files --model and --train-records
    read."""
    if member_ids is None:
        raise ConfigError("a trained model needs member_ids: the ids (positions in data) of "
                          "the records it was trained on")
    from safetensors.torch import save_file

    inputs.mkdir(parents=True, exist_ok=True)
    weights, members = inputs / "model.safetensors", inputs / "members.txt"
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights))
    members.write_text("".join(f"{int(i)}\n" for i in _ids(member_ids)))
    return ["--model", str(weights), "--train-records", str(members)]


def _ids(member_ids: Any) -> list[int]:
    import torch

    ids = torch.as_tensor(member_ids)
    if ids.dim() != 1 or ids.is_floating_point():
        raise ConfigError(f"member_ids must be a list of integer record ids, got {ids.dtype} "
                          f"of shape {tuple(ids.shape)}")
    return ids.tolist()


def _spec(thing: Any) -> str:
    """``module:name`` of a class or function; ``FILE.py:name`` for one imported from a file
    by the python target."""
    module, name = thing.__module__, thing.__qualname__
    if "." in name or "<" in name:
        raise ConfigError(f"{name} is defined inside a function or class; define it at the top "
                          "level of a module or notebook cell")
    if module.startswith("mia_user_model_"):  # imported by path: name the file again
        source = inspect.getsourcefile(thing)
        if source:
            return f"{source}:{name}"
    return f"{module}:{name}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _setting_arguments(settings: Mapping[str, Any]) -> list[str]:
    """``--flag value`` for each keyword, by the flag's Python name; a flag that takes no
    value is given for ``True``."""
    from mia_core.cli.mia_run import run

    flags = {p.name: p for p in run.params if p.name}
    reserved = {"dataset", "target", "attacks", "model", "train_records", "output", "quiet",
                "option_pairs", "config_file", "list_plugins", "describe", "print_config",
                "as_json", "version"}
    args: list[str] = []
    for name, value in settings.items():
        parameter = flags.get(name)
        if parameter is None or name in reserved:
            allowed = sorted(set(flags) - reserved)
            raise ConfigError(f"audit() has no setting {name!r}{did_you_mean(name, allowed)} "
                              f"(settings: {', '.join(allowed)})")
        flag = max(parameter.opts, key=len)
        if getattr(parameter, "is_flag", False):
            if value:
                args.append(flag)
        elif getattr(parameter, "multiple", False):
            for item in [value] if isinstance(value, str) else value:
                args += [flag, _text(item)]
        elif value is not None:
            args += [flag, _text(value)]
    return args
