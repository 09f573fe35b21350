"""A call of :func:`mia_core.audit` as the ``mia-run`` arguments that describe it; what the
command line reads from files (records, weights, member ids) is written into the audit's
folder first."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mia_core.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from torch import nn

INPUTS = "inputs"  # the folder, under the audit's, of the files the call's objects became


def arguments(model: Any, data: Any, attacks: str | Iterable[str],
               member_ids: Any, train: Callable[..., Any] | None,
               kwargs: Mapping[str, Any] | None, options: Mapping[str, Mapping[str, Any]] | None,
               folder: Path, quiet: bool, settings: Mapping[str, Any]) -> list[str]:
    from torch import nn

    from mia_core.cli.mia_run import refuse_existing

    refuse_existing(folder)  # before anything is written there: an earlier audit stays whole
    is_class = isinstance(model, type) and issubclass(model, nn.Module)
    if not (isinstance(model, str) or is_class or isinstance(model, nn.Module)):
        raise ConfigError(f"model must be an nn.Module class, a trained nn.Module or a target's "
                          f"name, got {type(model).__name__}")
    if member_ids is not None and not isinstance(model, nn.Module):
        raise ConfigError("member_ids are the records a trained model was trained on: pass the "
                          "trained nn.Module, not its class (a class is trained here, on "
                          "members the run draws)")
    if isinstance(model, nn.Module) and member_ids is None:
        raise ConfigError("a trained model needs member_ids: the ids (positions in data) of "
                          "the records it was trained on")
    inputs = folder / INPUTS
    args = [*_data_arguments(data, inputs)]
    if isinstance(model, str):
        args += ["--target", model]
    elif is_class:
        args += ["--target", "python", "-o", f"python.model={_spec(model)}"]
    else:
        args += ["--target", "python", "-o", f"python.model={_spec(type(model))}",
                 *_given_arguments(model, member_ids, inputs)]
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
    """How the python target finds a class or function again, in any process: ``FILE.py:name``
    for one from a top-level module file (a worker imports the file by its path, whatever its
    ``sys.path``), ``package.module:name`` for one from a package (installed, so importable
    anywhere, and its relative imports need the package), ``__main__:name`` for a notebook's
    or script's own."""
    module, name = thing.__module__, thing.__qualname__
    if "." in name or "<" in name:
        raise ConfigError(f"{name} is defined inside a function or class; define it at the top "
                          "level of a module or notebook cell")
    if module != "__main__" and "." not in module:
        try:
            source = inspect.getsourcefile(thing)
        except TypeError:  # a built-in: named by its module
            source = None
        if source and source.endswith(".py"):
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
