"""``--target python``: a model class in a file of the user's, not installed, audited like a
plugin's (the standard recipe, workers, the model cache, a rerun from results.json), with one
clear line for each way the class can be given wrongly."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from mia_core.cli.mia_run import run

NET = '''
from torch import nn


class Net(nn.Module):
    """A class of the user's: lazy first layer, num_classes from the data."""

    def __init__(self, num_classes, width=32):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.LazyLinear(width), nn.ReLU(),
                                  nn.Linear(width, num_classes))

    def forward(self, x):
        return self.body(x)


class NotAModel:
    pass
'''
BASE = ["--dataset", "blobs", "--target", "python", "--members", "120", "-o",
        "python.epochs=3", "-q"]


def invoke(args, cwd, cache):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(run, [str(a) for a in args],
                                  env={"MIA_CACHE_DIR": str(cache)})
    finally:
        os.chdir(old)


@pytest.fixture
def user(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "net.py").write_text(NET)
    return tmp_path


def test_a_class_in_a_file_is_trained_cached_and_rerun_from_elsewhere(user):
    """With two workers (which import the file themselves) and the cache: a rerun from
    another folder, by results.json, trains nothing and gives the same scores; an edited
    file trains anew."""
    cache, out = user / "cache", user / "first"
    args = [*BASE, "-o", "python.model=mine/net.py:Net", "-o", 'python.kwargs={"width": 8}',
            "--attack", "loss-threshold", "--attack", "lira", "--reference-models", "2",
            "--executor", "local", "--workers", "2", "--output", out]
    first = invoke(args, user, cache)
    assert first.exit_code == 0, first.output
    results = json.loads((out / "results.json").read_text())
    assert results["models_trained"] == 3 and results["models_from_cache"] == 0
    ran = results["options"]["target"]
    assert ran["model"] == f"{user / 'mine' / 'net.py'}:Net"  # absolute: rerun from anywhere
    elsewhere = user / "elsewhere"
    elsewhere.mkdir()
    again = invoke(["--config", out / "results.json", "--output", user / "again", "-q"],
                   elsewhere, cache)
    assert again.exit_code == 0, again.output
    rerun = json.loads((user / "again" / "results.json").read_text())
    assert rerun["models_trained"] == 0 and rerun["models_from_cache"] == 3
    assert [a["metrics"] for a in rerun["attacks"]] == [a["metrics"] for a in results["attacks"]]
    with (user / "mine" / "net.py").open("a") as f:
        f.write("\n# an edit: the cached weights are no longer this class's\n")
    edited = invoke(["--config", out / "results.json", "--output", user / "edited", "-q"],
                    elsewhere, cache)
    assert edited.exit_code == 0, edited.output
    assert json.loads((user / "edited" / "results.json").read_text())["models_trained"] == 3


def test_the_class_gets_its_kwargs_and_the_datas_class_count(user):
    from mia_core.default_plugins.python_target import PythonOptions, PythonTarget
    from mia_core.default_plugins.tiny_datasets import tiny_images

    data = tiny_images(size=40, classes=3)
    target = PythonTarget(PythonOptions(model=f"{user / 'mine' / 'net.py'}:Net",
                                        kwargs='{"width": 5}'))
    model = target.build(data)
    assert model(data.x[:4]).shape == (4, 3)
    assert model.body[1].weight.shape == (5, data.x[0].numel())  # lazy layer materialised
    assert len(target.fingerprint()) == 64


@pytest.mark.parametrize(("given", "message"), [
    ([], "the python target needs the class to audit: -o python.model=FILE.py:ClassName"),
    (["-o", "python.model=Net"], "model must be FILE.py:ClassName or "
                                 "package.module:ClassName, got 'Net'"),
    (["-o", "python.model=missing.py:Net"], "python.model: cannot read "),
    (["-o", "python.model=mine/net.py:Nett"], "has no class named 'Nett'; did you mean "
                                              "'Net'?; its nn.Module classes: Net"),
    (["-o", "python.model=mine/net.py:NotAModel"], "'NotAModel' in "),
    (["-o", "python.model=mine/net.py:NotAModel"], "is a class, not an nn.Module subclass; "
                                                   "its nn.Module classes: Net"),
    (["-o", "python.model=no_such_package.net:Net"], "python.model: cannot import "
                                                     "no_such_package.net"),
    (["-o", "python.model=mine/net.py:Net", "-o", "python.kwargs=[1]"],
     "kwargs must be a JSON object of constructor arguments, got '[1]'"),
    (["-o", "python.model=mine/net.py:Net", "-o", 'python.kwargs={"depth": 3}'],
     "python.model: Net(depth=3, num_classes="),
])
def test_a_class_given_wrongly_is_one_line_and_exit_2(user, given, message):
    one_line_exit_2(invoke([*BASE, *given, "--attack", "loss-threshold"], user, user / "cache"),
                    message)


def one_line_exit_2(done, message):
    """The run refused with exit 2 and one line holding ``message``, no traceback."""
    assert done.exit_code == 2, done.output
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.output, done.output
    assert message in lines[0], lines[0]


def test_a_file_that_fails_to_import_names_the_file_and_the_error(user):
    (user / "bad.py").write_text("import torch\nraise RuntimeError('no GPU here')\n")
    done = invoke([*BASE, "-o", "python.model=bad.py:Net", "--attack", "loss-threshold"],
                  user, user / "cache")
    assert done.exit_code == 2
    assert f"importing {user / 'bad.py'} failed: RuntimeError: no GPU here" in done.output


def test_other_targets_keep_their_model_cache_keys():
    """Only a target that offers fingerprint() adds it to the key: the cache of every other
    target stays valid."""
    from mia_core import capable
    from mia_core.training.targets import FingerprintedTarget
    from mia_mlp_target.plugin import MlpOptions, MlpTarget

    assert not capable(MlpTarget(MlpOptions()), FingerprintedTarget)


# --- the user's own training function -----------------------------------------------------------
TRAIN = '''
import os

import torch
from torch import nn


def train(model, loader, device):
    """Plain SGD, the way a user writes it; notes each call (pid, records) for the test."""
    with open(os.path.join(os.path.dirname(__file__), "calls.txt"), "a") as f:
        f.write(f"{os.getpid()} {len(loader.dataset)}\\n")
    optimiser = torch.optim.SGD(model.parameters(), lr=0.3)
    model.train()
    for _ in range(12):
        for x, y in loader:
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x.to(device)), y.to(device)).backward()
            optimiser.step()


def returns_a_number(model, loader, device):
    return 3


def notes_its_draws(model, loader, device):
    """Writes what a loop sees that the run seeds: the first batch's labels, a draw of
    Python's random and of torch's."""
    import json
    import random

    first = next(iter(loader))[1].tolist()
    with open(os.path.join(os.path.dirname(__file__), "draws.json"), "a") as f:
        f.write(json.dumps([first, random.random(), torch.rand(1).item()]) + "\\n")
'''
OWN = ["--dataset", "blobs", "--target", "python", "--members", "120", "-q",
       "-o", "python.model=mine/net.py:Net", "-o", "python.train=mine/train.py:train"]


@pytest.fixture
def trainer(user):
    (user / "mine" / "train.py").write_text(TRAIN)
    return user


def test_your_training_function_trains_the_target_and_every_reference_model(trainer):
    """In two worker processes (each imports the file itself), then from the cache."""
    cache, out = trainer / "cache", trainer / "first"
    args = [*OWN, "-o", "python.batch_size=16", "--attack", "lira", "--reference-models", "2",
            "--executor", "local", "--workers", "2", "--output", out]
    first = invoke(args, trainer, cache)
    assert first.exit_code == 0, first.output
    calls = (trainer / "mine" / "calls.txt").read_text().split()
    results = json.loads((out / "results.json").read_text())
    assert results["models_trained"] == 3 and len(calls) == 2 * 3  # every model, by it
    assert results["options"]["target"]["train"] == f"{trainer / 'mine' / 'train.py'}:train"
    assert results["target_train_accuracy"] > 0.9  # its loop, not an untrained net
    again = invoke(["--config", out / "results.json", "--output", trainer / "again", "-q"],
                   trainer, cache)
    assert again.exit_code == 0, again.output
    rerun = json.loads((trainer / "again" / "results.json").read_text())
    assert rerun["models_trained"] == 0 and rerun["models_from_cache"] == 3
    assert len((trainer / "mine" / "calls.txt").read_text().split()) == 2 * 3
    assert [a["metrics"] for a in rerun["attacks"]] == [a["metrics"] for a in results["attacks"]]
    with (trainer / "mine" / "train.py").open("a") as f:
        f.write("\n# edited: models trained by the old loop are not this loop's\n")
    edited = invoke(["--config", out / "results.json", "--output", trainer / "edited", "-q"],
                    trainer, cache)
    assert edited.exit_code == 0, edited.output
    assert json.loads((trainer / "edited" / "results.json").read_text())["models_trained"] == 3


def test_your_training_function_is_seeded_by_the_run(trainer):
    import torch

    from mia_core.default_plugins.python_target import PythonOptions, python_target
    from mia_core.default_plugins.tiny_datasets import tiny_images
    from mia_core.training.fit import seeded
    from mia_core.training.recipe import TrainEnv

    target = python_target(PythonOptions(model=f"{trainer / 'mine' / 'net.py'}:Net",
                                         train=f"{trainer / 'mine' / 'train.py'}:train",
                                         batch_size=8))
    assert not hasattr(target, "recipe")  # executors never batch what they cannot repeat
    data = tiny_images(size=40, classes=3)

    def weights(seed):
        with seeded(seed):
            return target.fit(data, TrainEnv(torch.device("cpu"), seed)).state_dict()

    first, same, other = weights(1), weights(1), weights(2)
    assert all(torch.equal(first[k], same[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)

    # what the loop itself draws: the loader's order, Python's and torch's generators
    noting = python_target(PythonOptions(model=f"{trainer / 'mine' / 'net.py'}:Net",
                                         train=f"{trainer / 'mine' / 'train.py'}:notes_its_draws",
                                         batch_size=8))
    for seed in (1, 1, 2):
        with seeded(seed):
            noting.fit(data, TrainEnv(torch.device("cpu"), seed))
    lines = [json.loads(x) for x in (trainer / "mine" / "draws.json").read_text().splitlines()]
    assert lines[0] == lines[1]  # one seed, the same batches and draws
    for k in range(3):  # another seed: another order, other draws
        assert lines[0][k] != lines[2][k], k
    assert lines[0][0] != data.y[:8].tolist()  # shuffled, not the records' order


@pytest.mark.parametrize(("given", "message"), [
    (["-o", "python.epochs=3"], "python.epochs does nothing with python.train (your function "
                                "trains the models; only python.batch_size, the loader's, "
                                "applies): drop it, or drop python.train"),
    (["-o", "python.dp_epsilon=4"], "python.dp_epsilon does nothing with python.train"),
    (["-o", "python.train=mine/train.py:trian"], "python.train: "),
    (["-o", "python.train=mine/train.py:trian"], "has no function named 'trian'; did you "
                                                 "mean 'train'?"),
    (["-o", "python.train=train"], "train must be FILE.py:function or "
                                   "package.module:function, got 'train'"),
    (["-o", "python.train=mine/train.py:returns_a_number"],
     "python.train: returns_a_number() returned a int; return the trained model, or nothing"),
])
def test_a_training_function_given_wrongly_is_one_line_and_exit_2(trainer, given, message):
    one_line_exit_2(invoke([*OWN, *given, "--attack", "loss-threshold"], trainer,
                           trainer / "cache"), message)


def test_the_same_code_in_two_folders_is_two_modules(tmp_path):
    """A copy of the user's file elsewhere (another project, another test) is imported as its
    own module: code that reads files beside itself (__file__) reads its own folder's."""
    from mia_core.default_plugins.python_target import _import_file

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "net.py").write_text(NET)
    first = _import_file(tmp_path / "a" / "net.py", "model")
    second = _import_file(tmp_path / "b" / "net.py", "model")
    assert first is not second
    assert first.__file__ == str(tmp_path / "a" / "net.py")
    assert second.__file__ == str(tmp_path / "b" / "net.py")
    assert _import_file(tmp_path / "a" / "net.py", "model") is first  # once per file
