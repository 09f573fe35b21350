"""The built-in ``tensors`` dataset: your own records as tensors in a safetensors file.

``--dataset tensors -o tensors.path=FILE.safetensors`` reads ``x`` (one row per record, any
shape and dtype: exactly what the model is handed) and ``y`` (integer classes, one per record).
The number of classes is ``num_classes`` in the file's metadata, else ``max(y) + 1``. It is
how ``mia_core.audit`` hands in-memory tensors or a torch ``Dataset`` to the same run as the
command line, and how a user with arrays of their own skips writing a dataset plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import torch

from mia_core.data import LabeledData, LoadEnv
from mia_core.errors import DataFileError, MiaError
from mia_core.hookspecs import hookimpl
from mia_core.options import option


def _required(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if not value:
        raise ValueError("the tensors dataset needs its file: -o tensors.path=FILE.safetensors "
                         "(tensors x and y)")


@attrs.frozen
class TensorFileOptions:
    path: str = option("", "a safetensors file with x (one row per record, as the model takes "
                       "it) and y (integer classes); required", _required,
                       converter=lambda v: str(Path(str(v)).expanduser().resolve()) if v else "")


def save_tensors(path: Path, x: torch.Tensor, y: torch.Tensor,
                 num_classes: int | None = None) -> None:
    """Write records as the ``tensors`` dataset reads them."""
    from safetensors.torch import save_file

    metadata = {"num_classes": str(num_classes)} if num_classes is not None else None
    save_file({"x": x.contiguous(), "y": y.to(torch.int64).contiguous()}, str(path),
              metadata=metadata)


def read_tensors(path: Path) -> LabeledData:
    """The records of ``path``, checked: one line naming the file for each way it is wrong."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise MiaError(f"tensors.path {path} is not a file; write x and y with "
                       "safetensors.torch.save_file({'x': x, 'y': y}, FILE)")
    try:
        with safe_open(str(path), framework="pt") as f:
            names, metadata = set(f.keys()), f.metadata() or {}
            found = {name: f.get_tensor(name) for name in ("x", "y") if name in names}
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataFileError(f"tensors.path {path} is not a safetensors file ({exc})") from None
    missing = [name for name in ("x", "y") if name not in found]
    if missing:
        raise DataFileError(f"tensors.path {path} has no tensor named {' or '.join(missing)} "
                            f"(it has: {', '.join(sorted(names)) or 'none'}); save the inputs "
                            "as x and the classes as y")
    x, y = found["x"], found["y"]
    if y.dim() != 1 or y.is_floating_point() or y.dtype == torch.bool:
        raise DataFileError(f"tensors.path {path}: y must be one integer class per record, got "
                            f"{y.dtype} {tuple(y.shape)}")
    if x.dim() < 1 or len(x) != len(y):
        raise DataFileError(f"tensors.path {path}: x has {len(x) if x.dim() else 0} rows and "
                            f"y {len(y)}; give one row of x per class in y")
    if len(y) and int(y.min()) < 0:
        raise DataFileError(f"tensors.path {path}: y holds the negative class {int(y.min())}; "
                            "number classes from 0")
    classes = int(y.max()) + 1 if len(y) else 0
    declared = metadata.get("num_classes")
    if declared is not None:
        if not declared.isdigit() or int(declared) < classes:
            raise DataFileError(f"tensors.path {path}: metadata num_classes={declared!r}, but "
                                f"y goes up to class {classes - 1}")
        classes = int(declared)
    return LabeledData(x, y.to(torch.int64), classes)


class TensorFile:
    def __init__(self, options: TensorFileOptions) -> None:
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        return read_tensors(Path(self.options.path))


@hookimpl
def register_datasets(register: Any) -> None:
    register("tensors", TensorFile, description="your own records as tensors x and y in a "
             "safetensors file (-o tensors.path=FILE); what mia_core.audit hands in-memory "
             "data through", options=TensorFileOptions)
