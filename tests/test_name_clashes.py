"""Name clashes with real installed distributions (pip-installed into a folder of their own,
seen by a real ``mia-run`` process through PYTHONPATH): two distributions with one plugin
name both load, and a component name two plugins register is picked by its qualified name
without uninstalling anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MIA_RUN = str(Path(sys.executable).with_name("mia-run"))

DIGITS = '''
import torch
from mia_core import LabeledData, hookimpl


class Digits:
    """Not the built-in digits: 40 records of 5 features, 2 classes."""

    def load(self, env):
        g = torch.Generator().manual_seed(0)
        y = torch.arange(40) % 2
        return LabeledData(torch.randn(40, 5, generator=g) + y[:, None], y, 2)


@hookimpl
def register_datasets(register):
    register("digits", Digits, description="an outsider's digits")
'''

OTHER = '''
from mia_core import hookimpl


class Nothing:
    def load(self, env):
        raise RuntimeError("never loaded here")


@hookimpl
def register_datasets(register):
    register("another-set", Nothing, description="an outsider's other set")
'''


def distribution(root: Path, name: str, module: str, plugin: str, source: str) -> Path:
    folder = root / name
    (folder / module).mkdir(parents=True)
    (folder / module / "__init__.py").write_text(source)
    (folder / "pyproject.toml").write_text(f"""\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "1.0"

[project.entry-points.mia_core]
{plugin} = "{module}"

[tool.setuptools]
packages = ["{module}"]
""")
    return folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Two outsiders' distributions installed into a folder of their own: both use the
    plugin name 'outsider', and one registers dataset 'digits' as mia-tabular-data does."""
    root = tmp_path_factory.mktemp("clash")
    target = root / "site"
    for name, module, source in (("mia-digits", "mia_digits", DIGITS),
                                 ("mia-other", "mia_other", OTHER)):
        folder = distribution(root, name, module, "outsider", source)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--no-build-isolation", "--no-index", "--target", str(target),
                        str(folder)], check=True, capture_output=True, timeout=300)
    return target


def mia_run(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([MIA_RUN, *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_two_distributions_with_one_plugin_name_both_load(installed):
    listed = mia_run(installed, "--list-plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert plugins["outsider"]["distribution"] == "mia-digits"
    assert plugins["mia-other:outsider"]["state"] == "ok"
    assert ("warning: plugin name 'outsider' is used by mia-digits 1.0 and by mia-other 1.0; "
            "the second is listed as 'mia-other:outsider'") in listed.stderr
    assert "Plugin name already registered" not in listed.stdout + listed.stderr


def test_a_shared_dataset_name_is_chosen_by_its_qualified_name(installed):
    base = ["--target", "mlp", "-o", "mlp.hidden=8", "-o", "target.epochs=1", "--members",
            "10", "--attack", "loss-threshold", "-q", "--no-cache", "--json"]
    bare = mia_run(installed, "--dataset", "digits", *base)
    assert bare.returncode == 2, bare.stderr
    assert bare.stderr.strip().splitlines()[-1] == (
        "Error: dataset 'digits' is provided by 2 plugins: plugin 'outsider' (mia-digits 1.0) "
        "and plugin 'mia-tabular-data' (mia-tabular-data 0.1.0); choose one by its qualified "
        "name: mia-digits:digits or mia-tabular-data:digits")
    theirs = mia_run(installed, "--dataset", "mia-digits:digits", *base)
    assert theirs.returncode == 0, theirs.stderr
    result = json.loads(theirs.stdout)
    assert result["pool_size"] == 40 and result["config"]["dataset"] == "mia-digits:digits"
    assert result["versions"]["mia-digits"] == "1.0"
    ours = mia_run(installed, "--dataset", "mia-tabular-data:digits", *base)
    assert ours.returncode == 0, ours.stderr
    assert json.loads(ours.stdout)["pool_size"] == 1797
