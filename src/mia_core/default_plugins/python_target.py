"""The built-in ``python`` target: audit any ``nn.Module`` class of your own, no plugin needed.

``--target python -o python.model=path/to/net.py:Net`` (or ``package.module:Net``) builds
``Net(**kwargs)`` (``-o python.kwargs='{"width": 64}'``; ``num_classes`` is passed when the
constructor takes it and it is not given) and trains it with the standard recipe and its
options (``-o python.epochs=20``, ...), for the target and for every reference model alike.
With ``--model FILE`` it audits weights trained elsewhere, as any buildable target.

A file is imported by its absolute path, in this process and in every worker (so it needs no
installing and works with ``--workers``; Ray workers must see the same path). Its SHA-256 is
part of the model-cache key: edit the file and the cache trains anew.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn
from torch.nn.parameter import UninitializedParameter

from mia_core.data import LabeledData
from mia_core.errors import ConfigError, did_you_mean
from mia_core.hookspecs import hookimpl
from mia_core.options import option
from mia_core.training.recipe_options import ClassifierTarget, RecipeOptions


def _spec(value: str) -> str:
    """``FILE.py:Class`` with FILE made absolute (a rerun from elsewhere finds it), or
    ``module:Class`` as given; empty stays empty (and is refused by :func:`_required`)."""
    where, sep, name = str(value).rpartition(":")
    if sep and where.endswith(".py"):
        return f"{Path(where).expanduser().resolve()}:{name}"
    return str(value)


def _required(instance: object, attribute: attrs.Attribute, value: str) -> None:
    where, sep, name = value.rpartition(":")
    if not value:
        raise ValueError("the python target needs the class to audit: -o "
                         "python.model=FILE.py:ClassName")
    if not sep or not where or not name.isidentifier():
        raise ValueError(f"model must be FILE.py:ClassName or package.module:ClassName, got "
                         f"{value!r}")


def _kwargs(instance: object, attribute: attrs.Attribute, value: str) -> None:
    try:
        found = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"kwargs must be a JSON object, e.g. '{{\"width\": 64}}' "
                         f"({exc.msg})") from None
    if not isinstance(found, dict):
        raise ValueError(f"kwargs must be a JSON object of constructor arguments, got {value!r}")


@attrs.frozen
class PythonOptions(RecipeOptions):
    model: str = option("", "FILE.py:ClassName or package.module:ClassName, the nn.Module "
                        "class to audit (required)", _required, converter=_spec)
    kwargs: str = option("{}", "constructor arguments as a JSON object; num_classes is passed "
                         "when the constructor takes it and it is not given", _kwargs)


class PythonTarget(ClassifierTarget):
    """``build`` makes the user's class; training is the standard recipe's."""

    options: PythonOptions

    def __init__(self, options: PythonOptions) -> None:
        super().__init__(options)
        self._class: type[nn.Module] | None = None
        self.model_class()  # a missing file or class is the user's error now, not mid-run

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options}  # workers import the class themselves

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.options, self._class = state["options"], None

    def model_class(self) -> type[nn.Module]:
        """The user's class, imported once per process (every model of a run is built from
        the same code, even if the file is edited meanwhile)."""
        if self._class is None:
            self._class = self._import()
        return self._class

    def _import(self) -> type[nn.Module]:
        where, _, name = self.options.model.rpartition(":")
        module = _import_file(Path(where)) if where.endswith(".py") else _import_module(where)
        found = getattr(module, name, None)
        if not (isinstance(found, type) and issubclass(found, nn.Module)):
            classes = [n for n, v in vars(module).items()
                       if isinstance(v, type) and issubclass(v, nn.Module)
                       and v.__module__ == module.__name__]
            listed = f"its nn.Module classes: {', '.join(classes) or 'none'}"
            if found is None:
                raise ConfigError(f"python.model: {where} has no class named {name!r}"
                                  f"{did_you_mean(name, classes)}; {listed}")
            kind = "a class" if isinstance(found, type) else f"a {type(found).__name__}"
            raise ConfigError(f"python.model: {name!r} in {where} is {kind}, not an "
                              f"nn.Module subclass; {listed}")
        return found

    def build(self, data: LabeledData) -> nn.Module:
        cls = self.model_class()
        kwargs = json.loads(self.options.kwargs)
        parameters = inspect.signature(cls).parameters
        if "num_classes" in parameters and "num_classes" not in kwargs:
            kwargs["num_classes"] = data.num_classes
        try:
            model = cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"python.model: {cls.__name__}({_shown(kwargs)}) failed: {exc}; "
                              "set its arguments with -o python.kwargs='{...}'") from None
        if any(isinstance(p, UninitializedParameter) for p in model.parameters()):
            with torch.no_grad():  # lazy layers (nn.LazyLinear ...) take their shapes here
                model(data.x[:2])
        return model

    def fingerprint(self) -> str:
        """SHA-256 of the class's source file: editing it invalidates cached models."""
        source = inspect.getsourcefile(self.model_class())
        return hashlib.sha256(Path(source).read_bytes()).hexdigest() if source else ""


def _shown(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _import_file(path: Path) -> Any:
    """The module in ``path``, imported once per content (named by its digest, so two files
    of the same name never collide and an edited file is imported afresh)."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"python.model: cannot read {path} ({exc.strerror})") from None
    name = f"mia_user_model_{hashlib.sha256(source).hexdigest()[:16]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ConfigError(f"python.model: importing {path} failed: {type(exc).__name__}: "
                          f"{exc}") from None
    return module


def _import_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"python.model: cannot import {name} ({exc}); give FILE.py:Class, "
                          "or put the module on PYTHONPATH") from None


@hookimpl
def register_targets(register):
    register("python", PythonTarget, description="any nn.Module class of your own "
             "(-o python.model=FILE.py:Class), trained with the standard recipe and its "
             "options", options=PythonOptions)
