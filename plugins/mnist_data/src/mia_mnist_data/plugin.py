"""The ``mnist`` and ``fashion-mnist`` datasets: four IDX files each, normalised, held in
memory as tensors."""

from __future__ import annotations

from pathlib import Path

import attrs
import torch

from mia_core import (
    DataFileError,
    LabeledData,
    LoadEnv,
    MiaError,
    QueryAugmentation,
    allow_download,
    data_root,
    hookimpl,
    image_augmentations,
    option,
)

from .idx import OFFICIAL, IdxError, check_idx, read_idx

FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
ALL_FILES = (*FILES[True], *FILES[False])
MEAN, STD = 0.1307, 0.3081  # the usual MNIST normalisation (training-set pixel statistics)
SPLITS = {"all": (True, False), "train": (True,), "test": (False,)}


@attrs.frozen
class IdxSet:
    """One dataset in MNIST's four IDX files: its torchvision folder and class, its pixel
    statistics and the SHA-256 of its official files (empty: sizes and headers only)."""

    title: str
    folder: str
    torchvision: str
    mean: float
    std: float
    digests: dict[str, tuple[int, str]] = attrs.field(factory=dict)


MNIST_SET = IdxSet("MNIST", "MNIST", "MNIST", MEAN, STD, OFFICIAL)
# Zalando's Fashion-MNIST: the same files, names and sizes; pixel statistics of its train set
FASHION_SET = IdxSet("Fashion-MNIST", "FashionMNIST", "FashionMNIST", 0.2860, 0.3530)


@attrs.frozen
class MnistOptions:
    split: str = option("all", "which records form the pool: all 70,000, train (60,000) or "
                        "test (10,000)", choices=tuple(SPLITS))
    download: bool = option(True, "download the files when they are missing")


class Mnist:
    """Handwritten digits, 28x28 grey-scale, 10 classes."""

    spec = MNIST_SET

    def __init__(self, options: MnistOptions) -> None:
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        root = data_root(env.data_dir)
        spec = self.spec
        raw = find_raw_folder(root, spec)
        if raw is None:
            raw = self._download(root, env)
        parts = [read_part(raw, train, spec) for train in SPLITS[self.options.split]]
        images = torch.cat([p[0] for p in parts])
        labels = torch.cat([p[1] for p in parts])
        x = (images.float().div_(255).sub_(spec.mean).div_(spec.std)).unsqueeze(1)
        return LabeledData(x, labels.long(), num_classes=10)

    def query_augmentations(self) -> tuple[QueryAugmentation, ...]:
        """Shifts only: a mirrored digit is another digit (or none)."""
        return image_augmentations(flip=False)

    def _download(self, root: Path, env: LoadEnv) -> Path:
        spec = self.spec
        missing = f"{spec.title} files not found under {root}"
        if not self.options.download:
            raise MiaError(f"{missing} and download is off; {_expected(root, spec)}")
        allow_download(spec.title, root)
        env.progress.message(f"{spec.title} not found under {root}; downloading with "
                             "torchvision ...")
        try:
            import torchvision.datasets

            for train in (True, False):
                getattr(torchvision.datasets, spec.torchvision)(str(root), train=train,
                                                                download=True)
        except Exception as exc:
            raise MiaError(f"{missing} and the download failed ({type(exc).__name__}: "
                           f"{_first_line(exc)}); {_expected(root, spec)}") from None
        raw = find_raw_folder(root, spec)
        if raw is None:
            raise MiaError(f"{missing} even after downloading; {_expected(root, spec)}")
        return raw


class FashionMnist(Mnist):
    """Zalando's clothing images, 28x28 grey-scale, 10 classes, in MNIST's file format."""

    spec = FASHION_SET

    def query_augmentations(self) -> tuple[QueryAugmentation, ...]:
        """Mirror images and shifts: a mirrored shirt is still a shirt."""
        return image_augmentations()


def find_raw_folder(root: Path, spec: IdxSet = MNIST_SET) -> Path | None:
    """The folder holding the four files: ROOT/<folder>/raw (torchvision's layout), ROOT/raw
    or ROOT itself. ``None`` when no candidate has any of them."""
    for candidate in (root / spec.folder / "raw", root / "raw", root):
        if any((candidate / name).exists() for name in ALL_FILES):
            return candidate
    return None


def read_part(raw: Path, train: bool,
              spec: IdxSet = MNIST_SET) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 28, 28) uint8 and labels (N,) of one part, checked before and after reading."""
    image_file, label_file = (raw / name for name in FILES[train])
    for path in (image_file, label_file):
        if not path.exists():
            raise MiaError(f"{path} is missing; {_expected(raw, spec)}")
    try:
        images_header = check_idx(image_file, 3, spec.digests)
        labels_header = check_idx(label_file, 1, spec.digests)
    except IdxError as exc:
        raise DataFileError(f"bad {spec.title} file in {raw}: {exc}; delete it and download "
                            f"again ({_expected(raw, spec)})") from None
    if images_header.dims[1:] != (28, 28) or images_header.dims[0] != labels_header.dims[0]:
        raise DataFileError(f"{spec.title} files in {raw} do not match: {image_file.name} "
                            f"holds {images_header.dims}, {label_file.name} holds "
                            f"{labels_header.dims}")
    images, labels = read_idx(image_file, images_header), read_idx(label_file, labels_header)
    if len(labels) and int(labels.max()) > 9:
        raise DataFileError(f"{label_file} holds labels above 9; it is not a {spec.title} "
                            "label file")
    return images, labels


def _expected(folder: Path, spec: IdxSet = MNIST_SET) -> str:
    return (f"expected the four raw files {', '.join(ALL_FILES)} in {folder} "
            f"(or in DIR/{spec.folder}/raw for --data-dir DIR / MIA_DATA_DIR=DIR)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"


@hookimpl
def register_datasets(register):
    register("mnist", Mnist, description="MNIST handwritten digits (70,000 28x28 images, "
             "10 classes) via torchvision", options=MnistOptions)
    register("fashion-mnist", FashionMnist, description="Fashion-MNIST clothing (70,000 28x28 "
             "images, 10 classes), MNIST's file format", options=MnistOptions)
