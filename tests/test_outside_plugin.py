"""A plugin distribution from outside this repository, written against the documented API of
mia-core 0.1 (dict-style result parts included), found through its entry point and run by
mia-run and mia in a fresh process: the layout may move modules, never the public names."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

PLUGIN = '''
"""Every kind of component, using only names the 0.1 guide documents."""
import attrs
import torch
from torch import nn

import click
from mia_core import (AttackContext, LabeledData, LoadEnv, ThreatModel, TrainEnv, TrainRecipe,
                      fit_classifier, hookimpl, option, positive)


@attrs.frozen
class BlobOptions:
    size: int = option(800, "records", positive)


class Blobs:
    suggested_members = 120

    def __init__(self, options):
        self.options = options

    def load(self, env: LoadEnv) -> LabeledData:
        g = torch.Generator().manual_seed(5)
        y = torch.randint(0, 3, (self.options.size,), generator=g)
        means = 3 * torch.randn(3, 6, generator=g)
        return LabeledData(means[y] + torch.randn(self.options.size, 6, generator=g), y, 3)


class Mlp:
    def build(self, data):
        return nn.Sequential(nn.Linear(data.x.shape[1], 32), nn.ReLU(),
                             nn.Linear(32, data.num_classes))

    def recipe(self):
        return TrainRecipe(epochs=20, batch_size=32, lr=0.01)

    def fit(self, data, env: TrainEnv):
        return fit_classifier(self.build(data), data, self.recipe(), env)


class MaxConfidence:
    threat_model = ThreatModel.KNOWN_MEMBERS

    def score(self, ctx: AttackContext):
        return ctx.target.probabilities(ctx.evaluation.x).max(dim=1).values


class Serial:
    """Trains each job in this process, in reverse order."""

    def run(self, task, jobs, env):
        for job in reversed(list(jobs)):
            yield job, task.train(job, env.device, env.progress)


class Log:
    """A reporter reading result parts by key, as 0.1's results were dicts."""

    def report(self, result, artifacts, env):
        out = {"seed": result.config["seed"], "dataset": result.config["dataset"],
               "keys": sorted(k for k, _ in result.config.items()),
               "privacy": result.privacy,
               "canaries": {a.name: a.canary_audit["canaries"] for a in result.attacks
                            if a.canary_audit},
               "classes": {a.name: sorted(a.per_class) for a in result.attacks},
               "members_class0": result.attacks[0].per_class["0"]["members"]}
        path = env.output / "outside.json"
        path.write_text(json.dumps(out))
        return [str(path)]


@hookimpl
def register_datasets(register):
    register("outside-blobs", Blobs, description="Gaussian blobs", options=BlobOptions)


@hookimpl
def register_targets(register):
    register("outside-mlp", Mlp, description="A small MLP")


@hookimpl
def register_attacks(register):
    register("outside-confidence", MaxConfidence, description="Top-1 confidence")


@hookimpl
def register_executors(register):
    register("outside-serial", Serial, description="In process, reversed")


@hookimpl
def register_reporters(register):
    register("outside-log", Log, description="Result parts read by key")


@hookimpl
def register_commands(cli):
    @cli.command("outside-hello")
    def hello():
        """Say hello from outside."""
        click.echo("hello from outside")
'''.replace("import click\n", "import json\nimport click\n")


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """The distribution as pip would lay it out: the module plus its .dist-info."""
    site = tmp_path_factory.mktemp("site")
    (site / "mia_outside.py").write_text(PLUGIN)
    info = site / "mia_outside-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mia-outside\nVersion: 2.0\n")
    (info / "entry_points.txt").write_text("[mia_core]\noutside = mia_outside\n")
    return site


def command(name, site, *args, cwd):
    scripts = Path(sysconfig.get_path("scripts"))
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(scripts / name), *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300, check=False)


def test_an_outside_distribution_runs_every_kind(outside, tmp_path):
    out = tmp_path / "out"
    result = command("mia-run", outside, "--dataset", "outside-blobs", "--target",
                     "outside-mlp", "--attack", "outside-confidence", "--attack", "loss-threshold",
                     "--attack", "lira", "--reference-models", "2", "--executor",
                     "outside-serial", "--reporter", "outside-log", "--reporter", "json",
                     "--canaries", "20", "--output", str(out), "--quiet", "--json",
                     "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["config"]["members"] == 120  # the dataset's suggested_members
    assert data["split_sizes"]["population"] == 120 and data["models_trained"] == 3
    assert data["versions"]["mia-outside"] == "2.0"
    by_name = {a["name"]: a for a in data["attacks"]}
    assert by_name["outside-confidence"]["metrics"]["auc"] > 0.5  # it does see the target
    logged = json.loads((out / "outside.json").read_text())
    assert (logged["seed"], logged["dataset"]) == (3, "outside-blobs")
    assert "reference_models" in logged["keys"] and logged["privacy"] is None
    assert logged["canaries"] == {"outside-confidence": 20, "loss-threshold": 20}
    assert logged["classes"]["lira"] == ["0", "1", "2"]
    assert logged["members_class0"] == by_name["outside-confidence"]["per_class"]["0"]["members"]


def test_an_outside_distribution_is_listed_and_adds_a_command(outside, tmp_path):
    listing = command("mia", outside, "plugins", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert ("outside (mia-outside 2.0)  hooks: register_attacks, register_commands, "
            "register_datasets, register_executors, register_reporters, register_targets; "
            "provides: dataset:outside-blobs, target:outside-mlp, attack:outside-confidence, "
            "reporter:outside-log, executor:outside-serial") in listing.stdout
    hello = command("mia", outside, "outside-hello", cwd=tmp_path)
    assert (hello.returncode, hello.stdout) == (0, "hello from outside\n")
    assert "outside-hello" in command("mia", outside, "--help", cwd=tmp_path).stdout


def test_scripts_are_on_this_python():
    assert Path(sysconfig.get_path("scripts"), "mia").exists(), sys.executable
