"""``mia_core.audit``: the Python API runs the command line's experiment, to the bit, for a
class (trained here), a trained model with its member ids, in-memory tensors or a torch
Dataset; bad input is the command line's one message, raised."""

from __future__ import annotations

import json
import shlex
import sys

import pytest
import torch
from click.testing import CliRunner
from sklearn.datasets import load_digits
from torch import nn

import mia_core
from mia_core import ConfigError, MiaError
from mia_core.cli.mia_run import run

NET = '''
from torch import nn


class DigitsNet(nn.Module):
    def __init__(self, num_classes=10, width=32):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(),
                                  nn.Linear(width, num_classes))

    def forward(self, x):
        return self.body(x)
'''
RECIPE = {"python": {"epochs": 30, "batch_size": 32}}


@pytest.fixture
def net(tmp_path, monkeypatch):
    """The user's class in a module of their own (``mine_api_net``), importable here."""
    (tmp_path / "mine_api_net.py").write_text(NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("mine_api_net", None)
    import mine_api_net

    yield mine_api_net.DigitsNet
    sys.modules.pop("mine_api_net", None)


def cli(*args):
    done = CliRunner().invoke(run, [str(a) for a in args])
    assert done.exit_code == 0, done.output
    return done


def same_run(first, second):
    """Two output folders with the same metrics and the same scores, record by record."""
    a = json.loads((first / "results.json").read_text())
    b = json.loads((second / "results.json").read_text())
    assert [x["metrics"] for x in a["attacks"]] == [x["metrics"] for x in b["attacks"]]
    assert (first / "evaluation.csv").read_bytes() == (second / "evaluation.csv").read_bytes()


def test_a_class_is_audited_as_the_command_line_audits_it_to_the_bit(net, tmp_path):
    found = mia_core.audit(net, "digits", attacks=["loss-threshold", "lira"],
                           reference_models=2, options=RECIPE, no_cache=True, quiet=True,
                           output=tmp_path / "api")
    cli("--dataset", "digits", "--target", "python", "-o", "python.model=mine_api_net:DigitsNet",
        "-o", "python.epochs=30", "-o", "python.batch_size=32", "--attack", "loss-threshold",
        "--attack", "lira", "--reference-models", "2", "--no-cache", "-q",
        "--output", tmp_path / "cli")
    same_run(tmp_path / "api", tmp_path / "cli")
    assert found.result.models_trained == 3
    assert found.result.target_train_accuracy > 0.9  # trained by the recipe it was given
    written = json.loads((tmp_path / "api" / "results.json").read_text())
    assert found.metrics == {a["name"]: a["metrics"] for a in written["attacks"]}
    assert "loss-threshold" in found.table and "lira" in found.table
    # its command reruns it: the same numbers again
    arguments = shlex.split(found.command)[1:]
    arguments[arguments.index("--output") + 1] = str(tmp_path / "again")
    cli(*arguments)
    same_run(tmp_path / "api", tmp_path / "again")


def test_a_trained_model_and_its_member_ids_are_audited_as_given(net, tmp_path):
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16
    y = torch.tensor(digits.target)
    members = torch.randperm(len(y), generator=torch.Generator().manual_seed(3))[:600]
    torch.manual_seed(0)
    model = net()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):  # the user's own loop, full batch
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x[members]), y[members]).backward()
        optimiser.step()
    found = mia_core.audit(model, "digits", member_ids=members, attacks="loss-threshold",
                           quiet=True, output=tmp_path / "api")
    inputs = tmp_path / "api" / "inputs"
    assert (inputs / "members.txt").read_text().split() == [str(i) for i in members.tolist()]
    cli("--dataset", "digits", "--target", "python", "-o", "python.model=mine_api_net:DigitsNet",
        "--model", inputs / "model.safetensors", "--train-records", inputs / "members.txt",
        "--attack", "loss-threshold", "-q", "--output", tmp_path / "cli")
    same_run(tmp_path / "api", tmp_path / "cli")
    assert found.result.models_trained == 0
    assert found.result.target_train_accuracy > found.result.target_test_accuracy


def test_tensors_and_a_torch_dataset_are_the_same_records(net, tmp_path):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (400,), generator=g)
    x = torch.randn(400, 1, 8, 8, generator=g) + y[:, None, None, None]
    settings = dict(attacks="loss-threshold", kwargs={"num_classes": 3}, options=RECIPE,
                    no_cache=True, quiet=True)
    from_tensors = mia_core.audit(net, (x, y), output=tmp_path / "tensors", **settings)
    from_dataset = mia_core.audit(net, torch.utils.data.TensorDataset(x, y),
                                  output=tmp_path / "dataset", **settings)
    same_run(tmp_path / "tensors", tmp_path / "dataset")
    assert "--dataset tensors" in from_tensors.command
    assert from_dataset.result.split_sizes["members"] == 100  # the CLI's default: pool / 4
    report = from_tensors.write_report(tmp_path / "mine.html")
    assert "<html" in report.read_text()[:200].lower()
    with pytest.raises(ConfigError, match="exists; choose another file"):
        from_tensors.write_report(report)


@pytest.mark.parametrize(("call", "message"), [
    (lambda net: mia_core.audit(net, "digits", reference_model=2),
     "audit() has no setting 'reference_model'; did you mean 'reference_models'?"),
    (lambda net: mia_core.audit(net, "digits", member_ids=[1, 2]),
     "member_ids are the records a trained model was trained on: pass the trained nn.Module"),
    (lambda net: mia_core.audit(net(), "digits"),
     "a trained model needs member_ids"),
    (lambda net: mia_core.audit(net, "digitz"), "unknown dataset 'digitz'"),
    (lambda net: mia_core.audit(net, [1, 2]), "data must be a dataset's name, a tuple"),
    (lambda net: mia_core.audit(42, "digits"), "model must be an nn.Module class"),
    (lambda net: mia_core.audit(net, "digits", options={"python": {"epochs": 0}}),
     "epochs"),
])
def test_bad_input_raises_the_command_lines_message(net, tmp_path, call, message):
    with pytest.raises(MiaError, match=None) as caught:
        call(net)
    assert message in str(caught.value), str(caught.value)


def readme_block(marker, language):
    import re

    from tests.test_layout import ROOT

    block = (ROOT / "README.md").read_text().split(f"<!-- {marker} -->", 1)[1]
    return re.search(rf"```{language}\n(.*?)```", block, re.S).group(1)


def test_the_readmes_own_class_journey_runs_as_written(tmp_path):
    """README "Your class, your training loop": net.py as shown, the command line, then the
    Python script, each run literally in a scratch folder."""
    import os
    import subprocess

    (tmp_path / "net.py").write_text(readme_block("own-class-file", "python"))
    env = {**os.environ, "MIA_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    bin_dir = os.path.dirname(sys.executable)
    command = readme_block("own-class-cli", "console").replace("\\\n", " ").strip()
    argv = shlex.split(command.removeprefix("$ "))
    argv[0] = argv[0].replace(".venv/bin", bin_dir)
    done = subprocess.run([*argv, "-q"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    cli_results = json.loads((tmp_path / "audit-cli" / "results.json").read_text())
    assert cli_results["options"]["target"]["train"] == f"{tmp_path / 'net.py'}:train"
    assert cli_results["models_trained"] == 5 and cli_results["target_train_accuracy"] > 0.95
    (tmp_path / "audit.py").write_text(readme_block("own-class-python", "python"))
    done = subprocess.run([sys.executable, "audit.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "model under audit:" in done.stdout and "lira" in done.stdout
    assert "members used: all 600 listed members are in the split" in done.stdout
    results = json.loads((tmp_path / "audit-python" / "results.json").read_text())
    assert results["split_sizes"]["eval_members"] == 300
    assert results["split_sizes"]["population"] == 1797 - 2 * 600  # the non-members left
    assert results["models_trained"] == 4  # the reference models, by the README's loop
    assert (tmp_path / "audit-python.html").read_text().lstrip().lower().startswith("<!doctype")


def test_a_class_from_a_module_file_trains_in_worker_processes(net, tmp_path):
    """The class is named by its file, so two worker processes import it whatever their
    sys.path: the same models and scores as one process; a notebook's class is refused there."""
    settings = dict(attacks="lira", reference_models=2, no_cache=True, quiet=True,
                    options={"python": {"epochs": 3, "batch_size": 64},
                             "local": {"threads": 1}})
    one = mia_core.audit(net, "digits", workers=1, output=tmp_path / "one", **settings)
    two = mia_core.audit(net, "digits", workers=2, output=tmp_path / "two", **settings)
    same_run(tmp_path / "one", tmp_path / "two")
    assert f"python.model={tmp_path / 'mine_api_net.py'}:DigitsNet" in two.command
    assert one.metrics == two.metrics

    class Inner(nn.Module):
        pass

    with pytest.raises(ConfigError, match="Inner is defined inside a function or class"):
        mia_core.audit(Inner, "digits")


def test_a_notebooks_own_class_trains_in_this_process_only():
    own = type("NotebookNet", (nn.Module,), {"__module__": "__main__"})
    with pytest.raises(ConfigError, match=r"defined in this notebook or script \(__main__\), "
                       "which worker processes cannot import"):
        mia_core.audit(own, "digits", workers=2)
    with pytest.raises(ConfigError, match="which worker processes cannot import"):
        mia_core.audit(own, "digits", executor="ray")


# --- the tensors dataset (what the API hands in-memory records through) ------------------------
def test_the_tensors_dataset_reads_x_y_and_the_class_count(tmp_path):
    from mia_core.default_plugins.tensor_file import read_tensors, save_tensors

    x, y = torch.randn(6, 2, 3), torch.tensor([0, 2, 1, 2, 0, 1])
    save_tensors(tmp_path / "a.safetensors", x, y)
    data = read_tensors(tmp_path / "a.safetensors")
    assert torch.equal(data.x, x) and torch.equal(data.y, y) and data.num_classes == 3
    save_tensors(tmp_path / "b.safetensors", x, y, num_classes=5)  # classes the sample lacks
    assert read_tensors(tmp_path / "b.safetensors").num_classes == 5


@pytest.mark.parametrize(("tensors", "metadata", "message"), [
    ({"x": torch.zeros(3, 2)}, None, "has no tensor named y (it has: x); save the inputs as x "
     "and the classes as y"),
    ({"x": torch.zeros(3, 2), "y": torch.zeros(3)}, None,
     "y must be one integer class per record, got torch.float32 (3,)"),
    ({"x": torch.zeros(3, 2), "y": torch.zeros(4, dtype=torch.int64)}, None,
     "x has 3 rows and y 4; give one row of x per class in y"),
    ({"x": torch.zeros(2, 2), "y": torch.tensor([0, -1])}, None,
     "y holds the negative class -1; number classes from 0"),
    ({"x": torch.zeros(2, 2), "y": torch.tensor([0, 3])}, {"num_classes": "2"},
     "metadata num_classes='2', but y goes up to class 3"),
])
def test_a_bad_tensors_file_is_one_line_naming_it(tmp_path, tensors, metadata, message):
    from safetensors.torch import save_file

    from mia_core import DataFileError
    from mia_core.default_plugins.tensor_file import read_tensors

    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(DataFileError) as caught:
        read_tensors(path)
    text = str(caught.value)
    assert text.startswith(f"tensors.path {path}") and text.endswith(message), text


def test_a_missing_or_foreign_tensors_file_says_so(tmp_path):
    from mia_core import DataFileError
    from mia_core.default_plugins.tensor_file import read_tensors

    with pytest.raises(MiaError, match="is not a file; write x and y with"):
        read_tensors(tmp_path / "none.safetensors")
    (tmp_path / "text.safetensors").write_text("not tensors")
    with pytest.raises(DataFileError, match="is not a safetensors file"):
        read_tensors(tmp_path / "text.safetensors")


def test_learned_nothing_is_within_five_points_of_the_largest_class():
    from mia_core import LabeledData
    from mia_core.experiment.sources import learned_nothing

    half = LabeledData(torch.zeros(100, 1), torch.tensor([0] * 50 + [1] * 50), 2)
    assert learned_nothing(0.549, half) and not learned_nothing(0.551, half)
    assert not learned_nothing(float("nan"), half)


def test_an_audit_into_a_used_folder_is_refused_before_anything_is_written(net, tmp_path):
    x, y = torch.randn(200, 1, 8, 8), torch.randint(0, 10, (200,))
    model = net()
    first = mia_core.audit(model, (x, y), member_ids=range(100), quiet=True,
                           output=tmp_path / "audit")
    inputs = {p.name: p.read_bytes() for p in (first.folder / "inputs").iterdir()}
    with pytest.raises(ConfigError, match=r"already holds results\.json"):
        mia_core.audit(net(), (x * 2, y), member_ids=range(50, 150), quiet=True,
                       output=tmp_path / "audit")
    assert {p.name: p.read_bytes() for p in (first.folder / "inputs").iterdir()} == inputs
    with pytest.raises(ConfigError, match=r"model must be an nn\.Module class"):
        mia_core.audit(42, (x, y), output=tmp_path / "other")
    assert not (tmp_path / "other" / "inputs").exists()  # refused before writing the data
