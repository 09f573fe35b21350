"""Tabular datasets from files in their real formats (written here), the CSV loader's
one-line errors, the bundled sets, and the mlp target's in-model standardisation."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mia_core import ConfigError, LabeledData, LoadEnv, MiaError, Progress, TrainEnv
from mia_core.cli.mia_run import run
from mia_mlp_target.plugin import MlpOptions, MlpTarget, feature_scale, parse_widths
from mia_tabular_data.plugin import (
    BreastCancer,
    CsvDataset,
    CsvOptions,
    Digits,
    LiteratureOptions,
    Purchase100,
    Texas100,
)

QUIET = Progress(enabled=False)


def _tgz(path, files):
    """A .tgz holding ``files`` (name -> text), as the literature's archives are."""
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _records(rng, n, width):
    labels = rng.integers(1, 101, n)
    feats = rng.integers(0, 2, (n, width))
    return labels, feats


def test_purchase100_reads_the_archive_format(tmp_path):
    rng = np.random.default_rng(0)
    labels, feats = _records(rng, 40, 600)
    lines = "".join(",".join(map(str, [lab, *row])) + "\n" for lab, row in
                    zip(labels, feats, strict=True))
    (tmp_path / "purchase100").mkdir()
    _tgz(tmp_path / "purchase100" / "dataset_purchase.tgz", {"dataset_purchase": lines})
    data = Purchase100(LiteratureOptions(download=False)).load(LoadEnv(tmp_path, QUIET))
    assert data.num_classes == 100 and data.x.shape == (40, 600)
    assert data.y.tolist() == (labels - 1).tolist()  # 1..100 -> 0..99
    assert torch.equal(data.x, torch.tensor(feats, dtype=torch.float32))
    again = Purchase100(LiteratureOptions(download=False)).load(LoadEnv(tmp_path, QUIET))
    assert torch.equal(again.x, data.x) and (tmp_path / "purchase100" /
                                             "dataset_purchase.npy").exists()


def test_texas100_reads_feats_and_labels(tmp_path):
    rng = np.random.default_rng(1)
    labels, feats = _records(rng, 12, 6169)
    folder = tmp_path / "texas100" / "texas" / "100"
    folder.mkdir(parents=True)
    (folder / "feats").write_text("".join(",".join(map(str, r)) + "\n" for r in feats))
    (folder / "labels").write_text("".join(f"{v}\n" for v in labels))
    data = Texas100(LiteratureOptions(download=False)).load(LoadEnv(tmp_path, QUIET))
    assert data.x.shape == (12, 6169) and data.y.tolist() == (labels - 1).tolist()
    assert torch.equal(data.x[3], torch.tensor(feats[3], dtype=torch.float32))


def test_literature_files_with_wrong_widths_or_labels_are_refused(tmp_path):
    folder = tmp_path / "purchase100"
    folder.mkdir()
    (folder / "dataset_purchase").write_text("1," + ",".join(["0"] * 599) + "\n")
    with pytest.raises(MiaError, match="has 600 values per line; a Purchase100 file has 601"):
        Purchase100(LiteratureOptions(download=False)).load(LoadEnv(tmp_path, QUIET))
    (folder / "dataset_purchase").write_text("101," + ",".join(["0"] * 600) + "\n")
    (folder / "dataset_purchase.npy").unlink(missing_ok=True)
    with pytest.raises(MiaError, match=r"labels outside 1\.\.100"):
        Purchase100(LiteratureOptions(download=False)).load(LoadEnv(tmp_path, QUIET))


def test_missing_literature_files_say_where_to_put_them(tmp_path):
    with pytest.raises(MiaError, match=r"download is off; download https://github.com/"
                       r"privacytrustlab/datasets/raw/master/dataset_texas.tgz and unpack"):
        Texas100(LiteratureOptions(download=False)).load(LoadEnv(tmp_path, QUIET))


def test_an_archive_member_outside_its_folder_is_refused(tmp_path):
    folder = tmp_path / "purchase100"
    folder.mkdir()
    _tgz(folder / "dataset_purchase.tgz", {"../escape": "x"})
    with pytest.raises(MiaError, match="would unpack outside its folder"):
        Purchase100(LiteratureOptions(download=True)).load(LoadEnv(tmp_path, QUIET))
    assert not (tmp_path / "escape").exists()


def _csv(tmp_path, text, **options):
    path = tmp_path / "data.csv"
    path.write_text(text)
    return CsvDataset(CsvOptions(path=str(path), **options)).load(LoadEnv(None, QUIET))


def test_csv_labels_and_features(tmp_path):
    data = _csv(tmp_path, "a,label,b\n1.5,yes,2\n-1,no,3e2\n0,yes,4\n")
    assert data.num_classes == 2 and data.y.tolist() == [1, 0, 1]  # "no" < "yes"
    assert data.x.tolist() == [[1.5, 2.0], [-1.0, 300.0], [0.0, 4.0]]
    numeric = _csv(tmp_path, "y,f\n10,1\n2,2\n1,3\n", label="y")
    assert numeric.y.tolist() == [2, 1, 0]  # sorted as numbers, not as text
    chosen = _csv(tmp_path, "a,label,b\n1,0,2\n3,1,4\n", columns="b")
    assert chosen.x.tolist() == [[2.0], [4.0]]


@pytest.mark.parametrize("text,message", [
    ("a,b\n1,2\n", "has no label column 'label' (columns: a, b)"),
    ("a,label\nx,1\n2,0\n", "line 2: column 'a' holds 'x', not a number"),
    ("a,label\n1,1\nnan,0\n", "line 3: column 'a' holds nan"),
    ("a,label\n,1\n2,0\n", "line 2: column 'a' is empty"),
    ("a,label\n1,1\n2\n", "line 3: 1 fields, but the header has 2"),
    ("a,label\n1,1\n2,1\n", "holds 1 class(es)"),
])
def test_bad_csv_files_are_config_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _csv(tmp_path, text)


def test_a_csv_without_label_column_exits_2_before_training(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    result = CliRunner().invoke(run, ["--dataset", "csv", "-o", f"csv.path={path}",
                                      "--target", "mlp", "--attack", "loss-threshold", "-q"])
    assert result.exit_code == 2 and "has no label column 'label'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bundled_sets_are_the_real_data():
    cancer = BreastCancer().load(LoadEnv(None, QUIET))
    assert cancer.x.shape == (569, 30) and int(cancer.y.sum()) == 357  # benign count
    digits = Digits().load(LoadEnv(None, QUIET))
    assert digits.x.shape == (1797, 1, 8, 8) and float(digits.x.max()) == 1.0


def test_mlp_standardises_with_its_training_records_only():
    x = torch.cat([torch.zeros(10, 3), torch.full((10, 3), 100.0)])
    x[:, 2] = 5.0  # a constant feature
    data = LabeledData(x, torch.tensor([0, 1] * 10), 2)
    target = MlpTarget(MlpOptions(hidden="8", epochs=1))
    model = target.build(data.subset(torch.arange(10)))  # only the zeros
    assert model.mean.tolist() == [0.0, 0.0, 5.0] and model.std.tolist() == [1.0, 1.0, 1.0]
    mean, std = feature_scale(x)
    assert mean[0] == 50.0 and std[0] == 50.0 and std[2] == 1.0
    keys = list(model.state_dict())
    assert keys == ["mean", "std", "layers.0.weight", "layers.0.bias", "layers.2.weight",
                    "layers.2.bias"]
    plain = MlpTarget(MlpOptions(hidden="", standardize=False)).build(data)
    assert list(plain.state_dict()) == ["layers.0.weight", "layers.0.bias"]


def test_every_mlp_model_gets_the_statistics_of_its_own_records():
    """One target instance trains the target and every reference model: each model's
    mean and std are those of the records it is built or trained on, never an earlier
    model's (stale statistics would scale a reference model's inputs wrongly)."""
    g = torch.Generator().manual_seed(0)
    target = MlpTarget(MlpOptions(hidden="4", epochs=1, batch_size=8))
    for shift in (0.0, 10.0, -3.0):
        x = torch.randn(24, 3, generator=g) * torch.tensor([1.0, 5.0, 0.1]) + shift
        data = LabeledData(x, torch.tensor([0, 1] * 12), 2)
        mean, std = feature_scale(x)
        built = target.build(data)
        fitted = target.fit(data, TrainEnv(torch.device("cpu"), 0))
        for model in (built, fitted):
            assert torch.equal(model.mean, mean) and torch.equal(model.std, std), shift
        assert torch.allclose(mean, x.mean(0), atol=1e-5)  # and they are the statistics
        assert torch.allclose(std, x.std(0, unbiased=False), atol=1e-5)


def test_mlp_widths_are_checked():
    assert parse_widths("1024, 512,256") == (1024, 512, 256) and parse_widths("") == ()
    for bad in ("12,x", "0,4"):
        with pytest.raises(ConfigError, match=r"mlp\.hidden"):
            parse_widths(bad)


def test_mlp_target_learns_breast_cancer(tmp_path):
    result = CliRunner().invoke(run, ["--dataset", "breast-cancer", "--target", "mlp",
                                      "--attack", "loss-threshold", "-q", "--no-cache",
                                      "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["target_test_accuracy"] > 0.9  # a real classifier, not chance (0.63)


def test_the_issue_command_runs_offline():
    """mia-run --dataset breast-cancer --target mlp --attack lira --attack rmia"""
    result = CliRunner().invoke(run, ["--dataset", "breast-cancer", "--target", "mlp",
                                      "--attack", "lira", "--attack", "rmia", "-q",
                                      "--no-cache", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert [a["name"] for a in summary["attacks"]] == ["lira", "rmia"]
    assert summary["split_sizes"]["population"] == 142 and summary["models_trained"] == 9
