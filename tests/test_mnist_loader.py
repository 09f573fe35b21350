"""The mnist plugin on small IDX files written here, including broken ones."""

import struct

import pytest
import torch

from mia_core import LoadEnv, MiaError
from mia_core.progress import QUIET
from mia_mnist_data.plugin import MEAN, STD, Mnist, MnistOptions, data_root

N_TRAIN, N_TEST = 12, 5


def write_images(path, images):
    n, h, w = images.shape
    path.write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, n, h, w) + images.numpy().tobytes())


def write_labels(path, labels):
    path.write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, len(labels)) + labels.numpy().tobytes())


@pytest.fixture
def mnist_root(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
        labels = torch.arange(n, dtype=torch.uint8) % 10
        write_images(raw / f"{prefix}-images-idx3-ubyte", images)
        write_labels(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return tmp_path


def load(root, **options):
    return Mnist(MnistOptions(**options)).load(LoadEnv(root, QUIET))


def test_reads_all_records_as_normalised_tensors(mnist_root):
    data = load(mnist_root)
    assert data.x.shape == (N_TRAIN + N_TEST, 1, 28, 28) and data.x.dtype == torch.float32
    assert data.y.tolist() == [i % 10 for i in range(N_TRAIN)] + [i % 10 for i in range(N_TEST)]
    raw = (mnist_root / "MNIST/raw/train-images-idx3-ubyte").read_bytes()[16:16 + 784]
    first = torch.tensor(list(raw), dtype=torch.float32).view(28, 28)
    torch.testing.assert_close(data.x[0, 0], (first / 255 - MEAN) / STD)


def test_split_option_selects_part(mnist_root):
    assert len(load(mnist_root, split="train")) == N_TRAIN
    assert len(load(mnist_root, split="test")) == N_TEST


def test_accepts_the_raw_folder_itself(mnist_root):
    assert len(load(mnist_root / "MNIST" / "raw")) == N_TRAIN + N_TEST


def test_truncated_file_is_named(mnist_root):
    path = mnist_root / "MNIST/raw/train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(MiaError) as err:
        load(mnist_root)
    msg = str(err.value)
    assert "train-images-idx3-ubyte is truncated" in msg
    assert "delete it and download again" in msg and "t10k-labels-idx1-ubyte" in msg


def test_wrong_magic_is_reported(mnist_root):
    path = mnist_root / "MNIST/raw/t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x1f\x8b" + path.read_bytes()[2:])  # e.g. a gzip file left unpacked
    with pytest.raises(MiaError, match="t10k-labels-idx1-ubyte is not a uint8 IDX file"):
        load(mnist_root)


def test_official_size_with_wrong_content_fails_checksum(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_images(raw / "t10k-images-idx3-ubyte", torch.zeros(10000, 28, 28, dtype=torch.uint8))
    write_labels(raw / "t10k-labels-idx1-ubyte", torch.zeros(10000, dtype=torch.uint8))
    with pytest.raises(MiaError, match="t10k-images-idx3-ubyte is corrupt"):
        load(tmp_path, split="test")


def test_mismatched_counts_are_reported(mnist_root):
    write_labels(mnist_root / "MNIST/raw/train-labels-idx1-ubyte",
                 torch.zeros(N_TRAIN + 1, dtype=torch.uint8))
    with pytest.raises(MiaError, match="do not match"):
        load(mnist_root)


def test_missing_file_is_reported(mnist_root):
    (mnist_root / "MNIST/raw/t10k-images-idx3-ubyte").unlink()
    with pytest.raises(MiaError, match="t10k-images-idx3-ubyte is missing"):
        load(mnist_root)


def test_offline_download_failure_says_what_to_do(tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    with pytest.raises(MiaError) as err:
        load(tmp_path / "empty")
    msg = str(err.value)
    assert msg.startswith(f"MNIST files not found under {tmp_path / 'empty'} and the download "
                          "failed (RuntimeError: Error downloading")
    assert "train-images-idx3-ubyte, train-labels-idx1-ubyte" in msg


def test_no_download_when_switched_off(tmp_path):
    with pytest.raises(MiaError, match="download is off"):
        load(tmp_path, download=False)


def test_data_folder_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_DATA_DIR", str(tmp_path / "env"))
    assert data_root(tmp_path / "cli") == tmp_path / "cli"
    assert data_root(None) == tmp_path / "env"
    monkeypatch.delenv("MIA_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root(None) == tmp_path / "cache" / "mia-core" / "data"


def test_real_mnist_loads_whole(mnist_dir):
    data = load(mnist_dir)
    assert data.x.shape == (70000, 1, 28, 28)
    assert torch.bincount(data.y).tolist() == [6903, 7877, 6990, 7141, 6824, 6313, 6876, 7293,
                                               6825, 6958]
