"""The image datasets: ``cifar10``, ``cifar100`` (binary files) and ``image-folder``.

CIFAR record ids: the training images first (in file order), then the test images, as in
``split=all``; ``split=train`` / ``test`` keep only one part, numbered from 0.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from mia_core import ConfigError, LabeledData, LoadEnv, hookimpl, option, positive

from .cifar import CIFAR10, CIFAR100, CifarSet, load_cifar
from .folder import load_image_folder

SPLITS = {"all": (True, False), "train": (True,), "test": (False,)}


@attrs.frozen
class CifarOptions:
    split: str = option("all", "which records form the pool: all 60,000, train (50,000) or "
                        "test (10,000)", choices=tuple(SPLITS))
    download: bool = option(True, "download the binary archive when the files are missing")


class Cifar10:
    """32x32 colour images of 10 classes (airplane ... truck), normalised per channel."""

    spec: CifarSet = CIFAR10
    suggested_members = 25_000  # the LiRA / RMIA setups train on half of the 50,000

    def __init__(self, options: CifarOptions) -> None:
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        return load_cifar(self.spec, env, SPLITS[self.options.split], self.options.download)


class Cifar100(Cifar10):
    """32x32 colour images of 100 classes (the fine labels), normalised per channel."""

    spec = CIFAR100


@attrs.frozen
class FolderOptions:
    path: str = option("", "the folder: one sub-folder of images per class")
    size: int = option(32, "images are resized and centre-cropped to SIZE x SIZE", positive)
    grey: bool = option(False, "read images as one grey channel instead of RGB")


class ImageFolder:
    """Images in ROOT/<class>/<file>, as torchvision's ImageFolder reads them."""

    def __init__(self, options: FolderOptions) -> None:
        if not options.path:
            raise ConfigError("the image-folder dataset needs its folder: "
                              "-o image-folder.path=DIR")
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        o = self.options
        return load_image_folder(Path(o.path).expanduser(), o.size, o.grey)


@hookimpl
def register_datasets(register):
    register("cifar10", Cifar10, description="CIFAR-10 (60,000 32x32 colour images, 10 "
             "classes) from the binary files", options=CifarOptions)
    register("cifar100", Cifar100, description="CIFAR-100 (60,000 32x32 colour images, 100 "
             "classes) from the binary files", options=CifarOptions)
    register("image-folder", ImageFolder, description="images in class folders "
             "(ImageFolder layout), resized to one square size", options=FolderOptions)
