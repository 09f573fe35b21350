"""Images in torchvision's ImageFolder layout: ROOT/<class>/<image>, classes in sorted order.

Each image is resized (shorter side) and centre-cropped to one fixed square size, so records
stack into one tensor. Record ids follow ImageFolder's order: classes sorted by name, files
sorted by path within each class, so an id list made with torchvision names the same images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mia_core import ConfigError, LabeledData

EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def list_images(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names and ``(file, class index)`` in ImageFolder's order."""
    if not root.is_dir():
        raise ConfigError(f"image folder {root} does not exist (-o image-folder.path)")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not
                     d.name.startswith("."))
    if not classes:
        raise ConfigError(f"image folder {root} has no class folders; put each class's "
                          "images in ROOT/<class name>/")
    if len(classes) < 2:
        raise ConfigError(f"image folder {root} has one class ({classes[0]}); a classifier "
                          "needs at least 2 class folders")
    records = []
    for index, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*")
                       if p.is_file() and p.suffix.lower() in EXTENSIONS)
        if not files:
            raise ConfigError(f"class folder {root / name} holds no images "
                              f"({', '.join(EXTENSIONS)})")
        records += [(f, index) for f in files]
    return classes, records


def load_image_folder(root: Path, size: int, grey: bool) -> LabeledData:
    """Every image as a (C, size, size) float in [-1, 1] (C: 1 for grey, else 3)."""
    from PIL import Image, UnidentifiedImageError

    classes, records = list_images(root)
    channels = 1 if grey else 3
    x = np.empty((len(records), channels, size, size), dtype=np.uint8)
    for i, (path, _) in enumerate(records):
        try:
            with Image.open(path) as image:
                pixels = _square(image.convert("L" if grey else "RGB"), size)
        except (UnidentifiedImageError, OSError) as exc:
            raise ConfigError(f"{path} is not a readable image ({exc}); remove it or "
                              "replace it") from None
        x[i] = pixels.reshape(size, size, channels).transpose(2, 0, 1)
    y = torch.tensor([label for _, label in records], dtype=torch.int64)
    # a fixed, data-independent scaling: no statistic of any record leaks into the inputs
    images = torch.from_numpy(x).float().div_(127.5).sub_(1.0)
    return LabeledData(images, y, len(classes))


def _square(image, size: int) -> np.ndarray:
    """Resize the shorter side to ``size``, then crop the centre square."""
    from PIL import Image

    width, height = image.size
    scale = size / min(width, height)
    resized = image.resize((max(size, round(width * scale)), max(size, round(height * scale))),
                           Image.Resampling.BILINEAR)
    left = (resized.size[0] - size) // 2
    top = (resized.size[1] - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)))
