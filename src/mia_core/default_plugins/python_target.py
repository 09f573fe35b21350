"""The built-in ``python`` target: audit any ``nn.Module`` class of your own, no plugin needed.

``--target python -o python.model=path/to/net.py:Net`` (or ``package.module:Net``) builds
``Net(**kwargs)`` (``-o python.kwargs='{"width": 64}'``; ``num_classes`` is passed when the
constructor takes it and it is not given) and trains it with the standard recipe and its
options (``-o python.epochs=20``, ...), for the target and for every reference model alike.
With ``-o python.train=FILE.py:train`` your own training function trains them instead, called
as ``train(model, loader, device)`` (see :class:`UserTrainedTarget`). With ``--model FILE`` it
audits weights trained elsewhere, as any buildable target.

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
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn
from torch.nn.parameter import UninitializedParameter
from torch.utils.data import DataLoader, TensorDataset

from mia_core.data import LabeledData
from mia_core.errors import ConfigError, did_you_mean
from mia_core.hookspecs import hookimpl
from mia_core.options import option
from mia_core.training.recipe import TrainEnv
from mia_core.training.recipe_options import ClassifierTarget, RecipeOptions


def _spec(value: str) -> str:
    """``FILE.py:Class`` with FILE made absolute (a rerun from elsewhere finds it), or
    ``module:Class`` as given; empty stays empty (and is refused by :func:`_required`)."""
    where, sep, name = str(value).rpartition(":")
    if sep and where.endswith(".py"):
        return f"{Path(where).expanduser().resolve()}:{name}"
    return str(value)


def _required(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if not value:
        raise ValueError("the python target needs the class to audit: -o "
                         "python.model=FILE.py:ClassName")
    _where_and_name(instance, attribute, value)


def _where_and_name(instance: object, attribute: attrs.Attribute, value: str) -> None:
    where, sep, name = value.rpartition(":")
    what = "ClassName" if attribute.name == "model" else "function"
    if value and (not sep or not where or not name.isidentifier()):
        raise ValueError(f"{attribute.name} must be FILE.py:{what} or package.module:{what}, "
                         f"got {value!r}")


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
    train: str = option("", "FILE.py:function or package.module:function: your own training "
                        "loop, called as train(model, loader, device) for the target and every "
                        "reference model (empty: the standard recipe)", _where_and_name,
                        converter=_spec)


class UserClass:
    """What both python targets share: the user's class, built and fingerprinted."""

    options: PythonOptions

    def __init__(self, options: PythonOptions) -> None:
        self.options = options
        self._class: type[nn.Module] | None = None
        self.model_class()  # a missing file or class is the user's error now, not mid-run

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options}  # workers import the user's code themselves

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.options, self._class = state["options"], None

    def model_class(self) -> type[nn.Module]:
        """The user's class, imported once per process (every model of a run is built from
        the same code, even if the file is edited meanwhile)."""
        if self._class is None:
            self._class = self._import()
        return self._class

    def _import(self) -> type[nn.Module]:
        where, name, module = _imported("model", self.options.model)
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
        """SHA-256 of the class's source: editing it invalidates cached models."""
        return _source_digest(self.model_class())


class PythonTarget(UserClass, ClassifierTarget):
    """``build`` makes the user's class; training is the standard recipe's."""

    def __init__(self, options: PythonOptions) -> None:
        ClassifierTarget.__init__(self, options)
        UserClass.__init__(self, options)


# what the user's own training function leaves to the recipe: only how the loader batches
_LOADER_OPTIONS = {"model", "kwargs", "train", "batch_size"}


class UserTrainedTarget(UserClass):
    """The user's class trained by the user's function, for the target and every reference
    model: ``train(model, loader, device)``, where ``model`` is a fresh instance on
    ``device``, ``loader`` a ``DataLoader`` of ``(x, y)`` batches of the records to train on
    (the tensors the dataset hands the model, shuffled by the run's seed, ``batch_size``
    records each). It trains ``model`` in place and returns nothing, or returns the trained
    model. torch's and Python's random generators are seeded by the run, so the same seed
    gives the same weights. It has no recipe, so DP-SGD and the recipe's other options are
    refused, and executors never batch its models."""

    def __init__(self, options: PythonOptions) -> None:
        set_here = [f.name for f in attrs.fields(PythonOptions) if f.name not in _LOADER_OPTIONS
                    and getattr(options, f.name) != f.default]
        if set_here:
            raise ConfigError(f"python.{set_here[0]} does nothing with python.train (your "
                              "function trains the models; only python.batch_size, the "
                              "loader's, applies): drop it, or drop python.train")
        super().__init__(options)
        self._train: Callable[..., Any] | None = None
        self.train_function()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._train = None

    def train_function(self) -> Callable[..., Any]:
        if self._train is None:
            where, name, module = _imported("train", self.options.train)
            found = getattr(module, name, None)
            if not callable(found):
                functions = [n for n, v in vars(module).items() if inspect.isfunction(v)
                             and v.__module__ == module.__name__]
                raise ConfigError(f"python.train: {where} has no function named {name!r}"
                                  f"{did_you_mean(name, functions)}; its functions: "
                                  f"{', '.join(functions) or 'none'}")
            self._train = found
        return self._train

    def fit(self, data: LabeledData, env: TrainEnv) -> nn.Module:
        model = self.build(data).to(env.device)
        train = self.train_function()
        generator = torch.Generator().manual_seed(env.seed)
        loader = DataLoader(TensorDataset(data.x, data.y), batch_size=self.options.batch_size,
                            shuffle=True, generator=generator)
        env.progress.message(f"training: {train.__name__}() of {self.options.train} on "
                             f"{len(data)} records")
        state = random.getstate()
        random.seed(env.seed)
        try:
            returned = train(model, loader, env.device)
        finally:
            random.setstate(state)
        if returned is not None and not isinstance(returned, nn.Module):
            raise ConfigError(f"python.train: {train.__name__}() returned a "
                              f"{type(returned).__name__}; return the trained model, or "
                              "nothing (it then trains the model it is given in place)")
        return (returned if returned is not None else model).eval()

    def fingerprint(self) -> str:
        """The class's and the training function's sources: editing either retrains."""
        return hashlib.sha256(f"{super().fingerprint()}|{_source_digest(self.train_function())}"
                              .encode()).hexdigest()


def python_target(options: PythonOptions) -> PythonTarget | UserTrainedTarget:
    """The standard recipe's target, or the user's training function's."""
    return UserTrainedTarget(options) if options.train else PythonTarget(options)


def _source_digest(thing: Any) -> str:
    """SHA-256 of the file that defines ``thing``, else of its own source (a class typed in
    a notebook cell), else of nothing that repeats: code whose source cannot be read is
    never matched to cached models."""
    try:
        source = inspect.getsourcefile(thing)
        if source and Path(source).is_file():
            return hashlib.sha256(Path(source).read_bytes()).hexdigest()
        return hashlib.sha256(inspect.getsource(thing).encode()).hexdigest()
    except (OSError, TypeError):
        return hashlib.sha256(os.urandom(32)).hexdigest()


def _imported(setting: str, spec: str) -> tuple[str, str, Any]:
    """(where, name, module) of ``FILE.py:name`` or ``module:name``, the module imported."""
    where, _, name = spec.rpartition(":")
    module = (_import_file(Path(where), setting) if where.endswith(".py")
              else _import_module(where, setting))
    return where, name, module


def _shown(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _import_file(path: Path, setting: str) -> Any:
    """The module in ``path``, imported once per path and content."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"python.{setting}: cannot read {path} ({exc.strerror})") from None
    # named by its path and content: two files of one name never collide, an edited file is
    # imported afresh, and a copy elsewhere is its own module (its __file__ is its own)
    key = hashlib.sha256(str(path.resolve()).encode() + b"\0" + source).hexdigest()[:16]
    name = f"mia_user_model_{key}"
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
        raise ConfigError(f"python.{setting}: importing {path} failed: {type(exc).__name__}: "
                          f"{exc}") from None
    return module


def _import_module(name: str, setting: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"python.{setting}: cannot import {name} ({exc}); give FILE.py:"
                          f"{'Class' if setting == 'model' else 'function'}, or put the module "
                          "on PYTHONPATH") from None


@hookimpl
def register_targets(register):
    register("python", python_target, description="any nn.Module class of your own "
             "(-o python.model=FILE.py:Class), trained with the standard recipe and its "
             "options, or with your own function (-o python.train=FILE.py:train)",
             options=PythonOptions)
