"""Purchase100 and Texas100 in the files the MIA literature distributes (Shokri et al. 2017,
via github.com/privacytrustlab/datasets, as ML Privacy Meter downloads them).

- Purchase100: ``dataset_purchase`` in ``dataset_purchase.tgz``; one record per line,
  ``label,f1,...,f600``, labels 1..100, binary features.
- Texas100: ``texas/100/feats`` (6,169 comma-separated binary features per line) and
  ``texas/100/labels`` (one label 1..100 per line) in ``dataset_texas.tgz``.

The parsed arrays are kept beside the text files as ``.npy`` (plain arrays, read with
``allow_pickle=False``) so the second load takes a second, not a minute.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from mia_core import (
    DataFileError,
    LabeledData,
    LoadEnv,
    MiaError,
    data_root,
    extract_tar,
    fetch,
)

from .table import read_number_lines

BASE_URL = "https://github.com/privacytrustlab/datasets/raw/master"
PURCHASE = ("purchase100", "dataset_purchase.tgz", 600)
TEXAS = ("texas100", "dataset_texas.tgz", 6169)
CLASSES = 100


def load_purchase(env: LoadEnv, download: bool) -> LabeledData:
    folder = data_root(env.data_dir) / PURCHASE[0]
    text = _find(folder, ("dataset_purchase",)) or _unpacked(folder, PURCHASE[1], env,
                                                               download, ("dataset_purchase",))
    table = _parsed(text, "Purchase100", 1 + PURCHASE[2], env)
    return _labelled(table[:, 1:], table[:, 0], text, "Purchase100")


def load_texas(env: LoadEnv, download: bool) -> LabeledData:
    folder = data_root(env.data_dir) / TEXAS[0]
    names = ("texas/100/feats", "texas/100/labels")
    feats = _find(folder, names[:1]) or _unpacked(folder, TEXAS[1], env, download, names)
    labels_file = feats.parent / "labels"
    if not labels_file.is_file():
        raise MiaError(f"{labels_file} is missing beside {feats}; {_expected(folder, TEXAS)}")
    x = _parsed(feats, "Texas100 feats", TEXAS[2], env)
    y = _parsed(labels_file, "Texas100 labels", 1, env)[:, 0]
    if len(x) != len(y):
        raise DataFileError(f"{feats} holds {len(x)} records but {labels_file} {len(y)} "
                            "labels")
    return _labelled(x, y, labels_file, "Texas100")


def _labelled(x: np.ndarray, labels: np.ndarray, path: Path, what: str) -> LabeledData:
    """Labels 1..100 -> 0..99 (checked), features as float32."""
    if len(labels) == 0:
        raise DataFileError(f"{path} holds no records")
    if not (np.all(labels == np.round(labels)) and labels.min() >= 1
            and labels.max() <= CLASSES):
        raise DataFileError(f"{path} holds labels outside 1..{CLASSES}; it is not a {what} "
                            "file")
    y = torch.from_numpy(labels.astype(np.int64) - 1)
    return LabeledData(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), y, CLASSES)


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The first of ``names`` under ``folder`` (also one level down, as archives unpack)."""
    for name in names:
        for candidate in (folder / name, *folder.glob(f"*/{name}")):
            if candidate.is_file():
                return candidate
    return None


def _unpacked(folder: Path, archive: str, env: LoadEnv, download: bool,
              names: tuple[str, ...]) -> Path:
    """Download (when allowed) and unpack ``archive``; the first of ``names`` inside it."""
    spec = PURCHASE if archive == PURCHASE[1] else TEXAS
    tgz = folder / archive
    if not tgz.exists() and not download:
        raise MiaError(f"{spec[0]} files not found in {folder} and download is off; "
                       f"{_expected(folder, spec)}")
    fetch(f"{BASE_URL}/{archive}", tgz, None, env.progress, spec[0])
    extract_tar(tgz, folder)
    found = _find(folder, names)
    if found is None:
        raise MiaError(f"{tgz} unpacked, but {names[0]} is not in it; "
                       f"{_expected(folder, spec)}")
    return found


def _parsed(path: Path, what: str, width: int, env: LoadEnv) -> np.ndarray:
    """The numbers of ``path``, from its ``.npy`` beside it when that is newer."""
    cached = path.with_name(path.name + ".npy")
    if cached.exists() and cached.stat().st_mtime >= path.stat().st_mtime:
        try:
            data = np.load(cached, allow_pickle=False)
            if data.ndim == 2 and data.shape[1] == width:
                return data
        except (OSError, ValueError):
            pass  # parse the text again
    env.progress.message(f"parsing {path} (once; kept as {cached.name}) ...")
    data = read_number_lines(path, what, width)
    with contextlib.suppress(OSError):  # a read-only data folder: parse again next time
        np.save(cached, data, allow_pickle=False)
    return data


def _expected(folder: Path, spec: tuple[str, str, int]) -> str:
    return (f"download {BASE_URL}/{spec[1]} and unpack it into {folder} "
            f"(or in DIR/{spec[0]} for --data-dir DIR / MIA_DATA_DIR=DIR)")
