"""Image datasets from files in their real formats, written here: CIFAR-10/100 binary
batches, Fashion-MNIST's IDX files, an ImageFolder tree; and the wrn target training on
CIFAR-shaped data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mia_core import ConfigError, LoadEnv, MiaError, TrainEnv
from mia_core.progress import QUIET
from mia_core.training.fit import seeded
from mia_image_data.cifar import CIFAR10, CIFAR100, load_cifar, read_file
from mia_image_data.folder import load_image_folder
from mia_mnist_data.plugin import FashionMnist, MnistOptions
from mia_wrn_target.plugin import WrnOptions, WrnTarget
from tests.test_mnist_loader import write_images, write_labels


def _cifar_records(rng, n, label_bytes, classes):
    labels = rng.integers(0, classes, (n, label_bytes)).astype(np.uint8)
    pixels = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    return labels, pixels, np.concatenate([labels, pixels], 1)


def _write_cifar10(root, n=6):
    folder = root / CIFAR10.folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    parts = {}
    for name in (*CIFAR10.train_files, *CIFAR10.test_files):
        labels, pixels, records = _cifar_records(rng, n, 1, 10)
        records.tofile(folder / name)
        parts[name] = (labels[:, 0], pixels)
    return parts


def test_cifar10_binary_batches_in_order_and_normalised(tmp_path):
    parts = _write_cifar10(tmp_path)
    data = load_cifar(CIFAR10, LoadEnv(tmp_path, QUIET), (True, False), download=False,
                      official_sizes=False)
    assert data.x.shape == (36, 3, 32, 32) and data.num_classes == 10
    order = [*CIFAR10.train_files, *CIFAR10.test_files]
    assert data.y.tolist() == np.concatenate([parts[n][0] for n in order]).tolist()
    first = torch.tensor(parts["data_batch_1.bin"][1][0], dtype=torch.float32).view(3, 32, 32)
    red = (first[0] / 255 - CIFAR10.mean[0]) / CIFAR10.std[0]
    torch.testing.assert_close(data.x[0, 0], red)  # the first 1,024 bytes are the red plane
    test_only = load_cifar(CIFAR10, LoadEnv(tmp_path, QUIET), (False,), False, False)
    torch.testing.assert_close(test_only.x, data.x[30:])


def test_cifar100_reads_the_fine_label(tmp_path):
    folder = tmp_path / CIFAR100.folder
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("train.bin", "test.bin"):
        _, _, records = _cifar_records(rng, 4, 2, 20)  # coarse < 20, fine < 100 too
        records[:, 1] = np.arange(4) * 30  # fine labels 0, 30, 60, 90
        records.tofile(folder / name)
    data = load_cifar(CIFAR100, LoadEnv(tmp_path, QUIET), (True,), False, False)
    assert data.y.tolist() == [0, 30, 60, 90] and data.num_classes == 100


def test_truncated_or_short_cifar_files_are_named(tmp_path):
    _write_cifar10(tmp_path, n=3)
    path = tmp_path / CIFAR10.folder / "test_batch.bin"
    with pytest.raises(MiaError, match="holds 3 records; the official file has 10000"):
        read_file(path, CIFAR10)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(MiaError, match="not a whole number of 3073-byte CIFAR-10 records"):
        read_file(path, CIFAR10, official_size=False)


def test_missing_cifar_without_download_says_what_to_do(tmp_path):
    with pytest.raises(MiaError, match=r"download is off; expected data_batch_1\.bin"):
        load_cifar(CIFAR10, LoadEnv(tmp_path, QUIET), (True,), download=False)


def test_fashion_mnist_reads_its_own_folder_and_statistics(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 4), ("t10k", 2)):
        images = torch.full((n, 28, 28), 255, dtype=torch.uint8)
        write_images(raw / f"{prefix}-images-idx3-ubyte", images)
        write_labels(raw / f"{prefix}-labels-idx1-ubyte", torch.arange(n, dtype=torch.uint8))
    data = FashionMnist(MnistOptions(download=False)).load(LoadEnv(tmp_path, QUIET))
    assert data.x.shape == (6, 1, 28, 28) and data.y.tolist() == [0, 1, 2, 3, 0, 1]
    assert float(data.x[0, 0, 0, 0]) == pytest.approx((1 - 0.2860) / 0.3530)


def _image_tree(root, classes):
    for c, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            colour = (c * 100, i * 50, 10)
            Image.new("RGB", (40, 20), colour).save(root / name / f"{i}.png")


def test_image_folder_order_size_and_labels(tmp_path):
    _image_tree(tmp_path, {"cat": 2, "ant": 3})
    data = load_image_folder(tmp_path, 16, grey=False)
    assert data.x.shape == (5, 3, 16, 16) and data.num_classes == 2
    assert data.y.tolist() == [0, 0, 0, 1, 1]  # ant (sorted first), then cat
    assert float(data.x[3, 0, 0, 0]) == -1.0  # cat, written first: red 0
    assert float(data.x[0, 0, 0, 0]) == pytest.approx(100 / 127.5 - 1, abs=1e-6)  # ant: 100
    assert float(data.x[1, 1, 5, 5]) == pytest.approx(50 / 127.5 - 1, abs=1e-6)  # ant 1, green
    grey = load_image_folder(tmp_path, 8, grey=True)
    assert grey.x.shape == (5, 1, 8, 8)


def test_image_folder_without_classes_is_a_config_error(tmp_path):
    (tmp_path / "loose.png").write_bytes(b"")
    with pytest.raises(ConfigError, match="has no class folders"):
        load_image_folder(tmp_path, 16, False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(ConfigError, match="holds no images"):
        load_image_folder(tmp_path, 16, False)
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "x.png")
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match=r"broken\.png is not a readable image"):
        load_image_folder(tmp_path, 16, False)


def test_wrn_trains_on_cifar_shaped_data():
    from mia_core import LabeledData

    g = torch.Generator().manual_seed(0)
    y = torch.arange(32) % 2
    x = torch.randn(32, 3, 32, 32, generator=g) + y.view(-1, 1, 1, 1).float() * 2
    data = LabeledData(x, y, 2)
    target = WrnTarget(WrnOptions(depth=10, width=1, epochs=3, batch_size=16, lr=0.05))
    with seeded(3):  # as the core trains every model: initial weights from the seed too
        model = target.fit(data, TrainEnv(torch.device("cpu"), seed=3))
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean()
    assert accuracy > 0.9  # the classes differ by a brightness shift: learnable in 3 epochs
    with seeded(3):
        again = target.fit(data, TrainEnv(torch.device("cpu"), seed=3))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 again.state_dict().values(), strict=True))
    params = sum(p.numel() for p in target.build(data).parameters())
    wrn282 = WrnTarget(WrnOptions()).build(LabeledData(x[:2], y[:2], 10))
    assert sum(p.numel() for p in wrn282.parameters()) == pytest.approx(1.47e6, rel=0.02)
    assert params < 1e5


def test_wrn_options_are_checked():
    with pytest.raises(ConfigError, match="6n \\+ 4"):
        WrnTarget(WrnOptions(depth=27))
    with pytest.raises(ConfigError, match=r"use -o wrn\.norm=group"):
        WrnTarget(WrnOptions(dp_epsilon=8.0, augment="none"))
    group = WrnTarget(WrnOptions(norm="group", depth=10, width=1))
    from mia_core import LabeledData

    model = group.build(LabeledData(torch.zeros(2, 3, 32, 32), torch.tensor([0, 1]), 2))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_cifar_downloads_checks_md5_and_unpacks(tmp_path):
    """The real download path on a file:// URL: archive fetched, MD5 checked, unpacked, read."""
    import hashlib
    import tarfile

    import attrs

    source = tmp_path / "source"
    _write_cifar10(source, n=2)
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / CIFAR10.folder, arcname=CIFAR10.folder)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    spec = attrs.evolve(CIFAR10, url=archive.as_uri(), md5=md5)
    data = load_cifar(spec, LoadEnv(tmp_path / "data", QUIET), (False,), True, False)
    assert len(data) == 2 and (tmp_path / "data" / CIFAR10.folder / "test_batch.bin").exists()
    wrong = attrs.evolve(spec, md5="0" * 32)
    with pytest.raises(MiaError, match="MD5 differs"):
        load_cifar(wrong, LoadEnv(tmp_path / "other", QUIET), (False,), True, False)
    assert not list((tmp_path / "other").glob("*.tar.gz*"))  # nothing half-made is kept


def test_wrn_with_groupnorm_trains_under_dp_sgd():
    from mia_core import LabeledData

    y = torch.arange(32) % 2
    data = LabeledData(torch.randn(32, 3, 32, 32) + y.view(-1, 1, 1, 1) * 2.0, y, 2)
    target = WrnTarget(WrnOptions(depth=10, width=1, norm="group", epochs=1, batch_size=16,
                                  dp_epsilon=8.0, augment="none"))
    with seeded(0):
        model = target.fit(data, TrainEnv(torch.device("cpu"), seed=0))
    spent = target.privacy(data)
    assert spent is not None and spent.epsilon <= 8.0 and spent.steps == 2
    with torch.no_grad():
        assert torch.isfinite(model(data.x)).all()


def test_a_download_that_fails_before_a_byte_arrives_is_one_error_and_leaves_nothing(tmp_path):
    """Nothing listens on the port: the connection fails before the partial file exists, and
    the user gets the download error, not a missing-file error from the clean-up."""
    import socket

    from mia_core.downloads import fetch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    dest = tmp_path / "data.bin"
    with pytest.raises(MiaError, match="cannot download"):
        fetch(f"http://127.0.0.1:{port}/data.bin", dest, sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []
    missing = tmp_path / "nothing-here.bin"
    with pytest.raises(MiaError, match="cannot download"):
        fetch(missing.as_uri(), dest, sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_the_default_data_folder_is_under_the_users_cache(tmp_path, monkeypatch):
    from mia_core.downloads import data_root

    monkeypatch.delenv("MIA_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_root(None) == tmp_path / ".cache" / "mia-core" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root(None) == tmp_path / "xdg" / "mia-core" / "data"
    monkeypatch.setenv("MIA_DATA_DIR", str(tmp_path / "mine"))
    assert data_root(None) == tmp_path / "mine"
    assert data_root(tmp_path / "given") == tmp_path / "given"


def test_a_download_makes_every_missing_folder_of_its_destination(tmp_path):
    """On a fresh machine none of ~/.cache/mia-core/data/NAME/raw exists yet."""
    import hashlib

    from mia_core.downloads import fetch

    source = tmp_path / "source.bin"
    source.write_bytes(b"records")
    dest = tmp_path / "a" / "b" / "c" / "data.bin"
    digest = hashlib.sha256(b"records").hexdigest()
    assert fetch(source.as_uri(), dest, sha256=digest) == dest
    assert dest.read_bytes() == b"records" and not list(dest.parent.glob("*.part"))
