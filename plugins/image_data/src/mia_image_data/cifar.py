"""CIFAR-10 and CIFAR-100 from their binary distributions, never the python-pickle batches.

The binary format (www.cs.toronto.edu/~kriz/cifar.html) is one record after another: the
label byte(s) (CIFAR-10: the class; CIFAR-100: coarse, then fine), then 3,072 pixel bytes,
the red, green and blue 32x32 planes. Every file's size must be a whole number of records and
match its official count, so a truncated download is named, not reshaped into garbage.
"""

from __future__ import annotations

from pathlib import Path

import attrs
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

PIXELS = 3 * 32 * 32


@attrs.frozen
class CifarSet:
    """One CIFAR distribution: archive, folder inside it, files per part, label layout."""

    title: str
    url: str
    md5: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_bytes: int  # 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)
    classes: int
    records_per_file: dict[str, int]
    mean: tuple[float, float, float]  # per-channel statistics of the training images
    std: tuple[float, float, float]

    @property
    def record_size(self) -> int:
        return self.label_bytes + PIXELS


CIFAR10 = CifarSet(
    "CIFAR-10", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "c32a1d4ab5d03f1284b67883e8d87530", "cifar-10-batches-bin",
    tuple(f"data_batch_{i}.bin" for i in range(1, 6)), ("test_batch.bin",), 1, 10,
    {**{f"data_batch_{i}.bin": 10_000 for i in range(1, 6)}, "test_batch.bin": 10_000},
    (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100 = CifarSet(
    "CIFAR-100", "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    "03b5dce01913d631647c71ecec9e9cb8", "cifar-100-binary", ("train.bin",), ("test.bin",),
    2, 100, {"train.bin": 50_000, "test.bin": 10_000},
    (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))


def load_cifar(spec: CifarSet, env: LoadEnv, parts: tuple[bool, ...], download: bool,
               official_sizes: bool = True) -> LabeledData:
    """The chosen parts (True: train, False: test), train first, normalised per channel."""
    folder = find_folder(data_root(env.data_dir), spec)
    if folder is None:
        folder = _download(spec, data_root(env.data_dir), env, download)
    names = [n for train in parts for n in (spec.train_files if train else spec.test_files)]
    images, labels = zip(*(read_file(folder / n, spec, official_sizes) for n in names),
                         strict=True)
    x = torch.from_numpy(np.concatenate(images)).float().div_(255)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return LabeledData(x.sub_(mean).div_(std), torch.from_numpy(np.concatenate(labels)),
                       spec.classes)


def read_file(path: Path, spec: CifarSet, official_size: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one binary file, checked."""
    if not path.is_file():
        raise MiaError(f"{path} is missing; {_expected(path.parent.parent, spec)}")
    raw = np.fromfile(path, dtype=np.uint8)
    if len(raw) == 0 or len(raw) % spec.record_size:
        raise DataFileError(f"{path} holds {len(raw)} bytes, not a whole number of "
                       f"{spec.record_size}-byte {spec.title} records; delete it and "
                       "download again")
    records = raw.reshape(-1, spec.record_size)
    expected = spec.records_per_file[path.name]
    if official_size and len(records) != expected:
        raise DataFileError(f"{path} holds {len(records)} records; the official file has "
                       f"{expected} (truncated download?); delete it and download again")
    labels = records[:, spec.label_bytes - 1].astype(np.int64)  # CIFAR-100: the fine label
    if labels.max() >= spec.classes:
        raise DataFileError(f"{path} holds label {labels.max()}; it is not a {spec.title} "
                            "file")
    return records[:, spec.label_bytes:].reshape(-1, 3, 32, 32), labels


def find_folder(root: Path, spec: CifarSet) -> Path | None:
    """ROOT/<folder> as the archive unpacks, or ROOT/<title>/<folder>; None if absent."""
    for candidate in (root / spec.folder, root / spec.title.lower() / spec.folder):
        if (candidate / spec.test_files[0]).exists():
            return candidate
    return None


def _download(spec: CifarSet, root: Path, env: LoadEnv, download: bool) -> Path:
    if not download:
        raise MiaError(f"{spec.title} files not found under {root} and download is off; "
                       f"{_expected(root, spec)}")
    archive = fetch(spec.url, root / spec.url.rsplit("/", 1)[1], None, env.progress,
                    spec.title, md5=spec.md5)
    extract_tar(archive, root)
    folder = find_folder(root, spec)
    if folder is None:
        raise MiaError(f"{archive} unpacked, but {spec.folder}/ is not in it; "
                       f"{_expected(root, spec)}")
    return folder


def _expected(root: Path, spec: CifarSet) -> str:
    files = ", ".join((*spec.train_files, *spec.test_files))
    return (f"expected {files} in {root / spec.folder} (unpack {spec.url} into "
            f"{root}, or set --data-dir / MIA_DATA_DIR to the folder that holds "
            f"{spec.folder}/)")
