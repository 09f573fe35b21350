"""Checking and reading IDX files (MNIST's format).

A reader that takes whatever bytes it finds fails deep inside a reshape on a truncated
download or a wrong file. Checking the header against the file size first lets us say exactly
which file is wrong and how; the checked file is then read as one uint8 array. (torchvision has
a reader too, but importing torchvision.datasets costs about 1.6 s, a twentieth of the demo.)
"""

from __future__ import annotations

import struct
from pathlib import Path

import attrs
import numpy as np
import torch

from mia_core import digest_of

# Official sizes and SHA-256 digests of the uncompressed MNIST files. A file of exactly this
# size is checked against the digest too, so a damaged but complete-looking file is caught.
OFFICIAL = {
    "train-images-idx3-ubyte": (
        47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": (
        60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": (
        7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": (
        10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}


@attrs.frozen
class IdxHeader:
    dims: tuple[int, ...]
    offset: int

    @property
    def expected_size(self) -> int:
        count = 1
        for d in self.dims:
            count *= d
        return self.offset + count


class IdxError(ValueError):
    """A file that is not a well-formed uint8 IDX file of the expected shape."""


def check_idx(path: Path, ndim: int,
              official: dict[str, tuple[int, str]] = OFFICIAL) -> IdxHeader:
    """Validate ``path`` as a uint8 IDX file with ``ndim`` dimensions; return its header.
    A file named and sized as one in ``official`` must also have its SHA-256."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4 + 4 * ndim)
    if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] != 0x08 or head[3] != ndim:
        raise IdxError(f"{path.name} is not a uint8 IDX file with {ndim} dimension(s) "
                       "(bad magic number)")
    if len(head) < 4 + 4 * ndim:
        raise IdxError(f"{path.name} is truncated (header incomplete)")
    header = IdxHeader(struct.unpack(f">{ndim}I", head[4:]), len(head))
    if size < header.expected_size:
        raise IdxError(f"{path.name} is truncated: {size} bytes, header promises "
                       f"{header.expected_size}")
    if size > header.expected_size:
        raise IdxError(f"{path.name} has {size - header.expected_size} unexpected trailing bytes")
    official_file = official.get(path.name)
    if official_file and size == official_file[0] and digest_of(path) != official_file[1]:
        raise IdxError(f"{path.name} is corrupt (SHA-256 differs from the official file)")
    return header


def read_idx(path: Path, header: IdxHeader) -> torch.Tensor:
    """The checked file's values: a uint8 tensor of shape ``header.dims``."""
    values = np.fromfile(path, dtype=np.uint8, offset=header.offset)
    return torch.from_numpy(values.reshape(header.dims))
