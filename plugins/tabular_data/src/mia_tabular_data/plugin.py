"""The tabular datasets: Purchase100 and Texas100 as the MIA literature distributes them, any
CSV file, and scikit-learn's bundled breast-cancer and digits (real data that installs with
scikit-learn, so a tabular audit runs offline).

Record ids are row numbers in the file's order (for the bundled sets: scikit-learn's order),
so a ``--train-records`` list written against the file means the same records here.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import torch

from mia_core import ConfigError, LabeledData, LoadEnv, hookimpl, option

from .literature import load_purchase, load_texas
from .table import read_csv_table


class BreastCancer:
    """Wisconsin diagnostic breast cancer: 569 records, 30 real features, 2 classes."""

    def __init__(self, options: None = None) -> None:
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        from sklearn.datasets import load_breast_cancer

        bunch = load_breast_cancer()
        return LabeledData(torch.tensor(bunch.data, dtype=torch.float32),
                           torch.tensor(bunch.target, dtype=torch.int64), 2)


class Digits:
    """UCI handwritten digits: 1,797 grey-scale 8x8 images (values 0..16 scaled to 0..1)."""

    def __init__(self, options: None = None) -> None:
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = torch.tensor(bunch.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
        return LabeledData(x, torch.tensor(bunch.target, dtype=torch.int64), 10)


@attrs.frozen
class CsvOptions:
    path: str = option("", "the CSV file (a header line, then one record per line)")
    label: str = option("label", "the column holding each record's class")
    columns: str = option("", "comma-separated feature columns (default: every other column)")
    delimiter: str = option(",", "the field separator")


class CsvDataset:
    """A CSV file: one label column and numeric feature columns."""

    def __init__(self, options: CsvOptions) -> None:
        if not options.path:
            raise ConfigError("the csv dataset needs its file: -o csv.path=FILE.csv")
        if len(options.delimiter) != 1:
            raise ConfigError(f"csv.delimiter must be one character, got {options.delimiter!r}")
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        o = self.options
        path = Path(o.path).expanduser()
        if not path.is_file():
            raise ConfigError(f"CSV file {path} does not exist (-o csv.path)")
        columns = [c.strip() for c in o.columns.split(",") if c.strip()] or None
        return read_csv_table(path, o.label, columns, o.delimiter)


@attrs.frozen
class LiteratureOptions:
    download: bool = option(True, "download the archive when the files are missing")


class Purchase100:
    """Kaggle shoppers (Shokri et al. 2017): 197,324 records, 600 binary features, 100 classes."""

    suggested_members = 20_000

    def __init__(self, options: LiteratureOptions) -> None:
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        return load_purchase(env, self.options.download)


class Texas100:
    """Texas hospital discharges (Shokri et al. 2017): 67,330 records, 6,169 binary features,
    100 classes."""

    suggested_members = 10_000

    def __init__(self, options: LiteratureOptions) -> None:
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        return load_texas(env, self.options.download)


@hookimpl
def register_datasets(register):
    register("breast-cancer", BreastCancer, description="Wisconsin breast cancer (569 records, "
             "30 features, 2 classes), bundled with scikit-learn")
    register("digits", Digits, description="UCI digits (1,797 8x8 images, 10 classes), bundled "
             "with scikit-learn")
    register("csv", CsvDataset, description="a CSV file: a label column and numeric features",
             options=CsvOptions)
    register("purchase100", Purchase100, description="Purchase100 (197,324 records, 600 binary "
             "features, 100 classes), privacytrustlab's dataset_purchase",
             options=LiteratureOptions)
    register("texas100", Texas100, description="Texas100 (67,330 records, 6,169 binary "
             "features, 100 classes), privacytrustlab's texas/100", options=LiteratureOptions)
