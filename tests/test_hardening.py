"""Bad input and misbehaving plugins, through the real CLI: one line naming the problem and
the plugin at fault, the right exit code, nothing lost."""

import json

import pytest
import torch
from click.testing import CliRunner

from mia_core.cli.mia_run import run

from .conftest import make_module

BLOBS = ["--dataset", "blobs", "--members", "100", "-o", "target.epochs=1", "--quiet"]


def invoke(*args, **env):
    return CliRunner().invoke(run, list(args), env=env or None)


def one_line(result, code):
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize(("option", "message"), [
    ("target.precision=fp16", "Error: option 'precision' of target 'cnn': must be one of auto, "
                              "fp32, bf16; got 'fp16'"),
    ("target.lr=nan", "Error: option 'lr' of target 'cnn': must be a finite number, got nan"),
    ("target.lr=inf", "Error: option 'lr' of target 'cnn': must be a finite number, got inf"),
    ("rmia.a=-inf", "Error: option 'a' of attack 'rmia': must be a finite number, got -inf"),
    ("lira.variance=pooled", "Error: option 'variance' of attack 'lira': must be one of "
                             "per-example, global; got 'pooled'"),
])
def test_bad_option_values_are_usage_errors(option, message):
    attack = option.split(".")[0] if option.startswith(("rmia", "lira")) else "loss-threshold"
    line = one_line(invoke(*BLOBS, "--attack", attack, "-o", option), 2)
    assert line == message


@pytest.mark.parametrize(("args", "message"), [
    (["--seed", str(2**64)], f"Error: seed must be an integer from 0 to 2**63 - 1, got {2**64}"),
    (["--seed", "-1"], "Error: seed must be an integer from 0 to 2**63 - 1, got -1"),
    (["--seed", str(2**63 - 1), "--seeds", "2"], f"Error: --seed {2**63 - 1} with --seeds 2 goes "
                                                  "past the largest seed, 2**63 - 1"),
])
def test_seeds_out_of_range_fail_before_any_work(args, message):
    assert one_line(invoke(*BLOBS, "--attack", "loss-threshold", *args), 2) == message


@pytest.mark.parametrize(("text", "message"), [
    ("seed = 1.5", "must be an integer, got 1.5"),
    ("members = true", "must be an integer, got true"),
    ("known-fraction = false", "must be a number, got false"),
    ("control = 1", "must be true or false, got 1"),
    ('attacks = ["lira", 3]', 'must be a list of strings, got ["lira", 3]'),
    ('output = ""', "empty path"),
])
def test_config_file_values_are_strictly_typed(tmp_path, text, message):
    path = tmp_path / "exp.toml"
    path.write_text(f'dataset = "blobs"\n{text}\n')
    line = one_line(invoke("--config", str(path), "--attack", "loss-threshold", "--quiet"), 2)
    assert message in line and str(path) in line


def test_config_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('dataset = "blöbs"\n'.encode("latin-1"))
    assert one_line(invoke("--config", str(path)), 2) == (
        f"Error: --config {path} is not UTF-8 text; save it as UTF-8 TOML")


@pytest.mark.parametrize("flag", ["--output", "--cache-dir", "--data-dir", "--config"])
def test_empty_paths_are_errors_not_the_current_folder(flag):
    line = one_line(invoke(*BLOBS, "--attack", "loss-threshold", flag, ""), 2)
    assert line.startswith(f"Error: Invalid value for '{flag}'") and "empty path" in line


def test_unwritable_output_is_found_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    out = blocker / "results"
    result = invoke(*BLOBS, "--attack", "loss-threshold", "--output", str(out), "--json",
                    "--cache-dir", str(tmp_path / "cache"))
    line = one_line(result, 1)
    assert line.startswith(f"Error: cannot write to --output {out}: ")
    assert not list((tmp_path / "cache").glob("*.pt"))  # nothing was trained
    assert blocker.read_text() == "keep me"


def test_output_check_leaves_no_probe_file(tmp_path):
    out = tmp_path / "run"
    result = invoke(*BLOBS, "--attack", "loss-threshold", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


FAILING_REPORTER = """
from mia_core import hookimpl

class Broken:
    def report(self, result, artifacts, env):
        raise OSError(28, "No space left on device")

@hookimpl
def register_reporters(register):
    register("broken", Broken, description="always fails")
"""


def test_failed_reporter_keeps_the_summary_and_the_other_reporters(tmp_path):
    make_module("mia_test_broken_reporter", FAILING_REPORTER)
    out = tmp_path / "out"
    result = invoke(*BLOBS, "--attack", "loss-threshold", "-p", "mia_test_broken_reporter",
                    "--reporter", "broken", "--reporter", "json", "--output", str(out))
    assert result.exit_code == 1
    assert result.stdout.startswith("mia-core: dataset=blobs")
    assert "loss-threshold" in result.stdout
    assert result.stderr.strip() == (
        "Error: reporter 'broken' could not deliver the results: reporter 'broken' (plugin "
        "'mia_test_broken_reporter') failed in report(): OSError: [Errno 28] No space left on "
        "device")
    assert (out / "results.json").exists()  # the json reporter still wrote its files


MISBEHAVING = """
import attrs
import sys
import torch
from torch import nn
from mia_core import (LabeledData, ThreatModel, TrainRecipe, fit_classifier, hookimpl, option,
                      AttackOutput)

class Shape(nn.Module):
    def __init__(self, outputs, value=0.0, in_training=0.0):
        super().__init__()
        self.fc = nn.Linear(4, outputs)
        self.value, self.in_training = value, in_training
    def forward(self, x):
        return self.fc(x) + self.value + (self.in_training if self.training else 0.0)

@attrs.frozen
class BadOptions:
    mode: str = option("shape", "how to misbehave",
                       choices=("shape", "nan", "diverge", "exit"))

class BadTarget:
    def __init__(self, options):
        self.mode = options.mode
    def fit(self, data, env):
        if self.mode == "shape":
            return Shape(data.num_classes + 1)
        if self.mode == "nan":
            return Shape(data.num_classes, float("nan"))
        if self.mode == "exit":
            sys.exit(3)
        recipe = TrainRecipe(2, 16, 0.01, channels_last=False)
        return fit_classifier(Shape(data.num_classes, in_training=float("inf")), data, recipe,
                              env)

class Vectors:
    def __init__(self, nan=False):
        self.nan = nan
    def load(self, env):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(400, 4, generator=g)
        if self.nan:
            x[17, 2] = float("nan")
        return LabeledData(x, (x[:, 0] > 0).long(), 2)

class Threshold:
    threat_model = ThreatModel.KNOWN_MEMBERS
    def score(self, ctx):
        return AttackOutput(torch.zeros(len(ctx.evaluation)), threshold="high")

class Greedy:
    threat_model = ThreatModel.KNOWN_MEMBERS
    def score(self, ctx):
        return ctx.reference_models()

class Quitter:
    threat_model = ThreatModel.KNOWN_MEMBERS
    def score(self, ctx):
        exit(0)

@hookimpl
def register_datasets(register):
    register("vectors", lambda: Vectors())
    register("nan-vectors", lambda: Vectors(nan=True))

@hookimpl
def register_targets(register):
    register("bad-target", BadTarget, options=BadOptions)

@hookimpl
def register_attacks(register):
    register("string-threshold", Threshold)
    register("greedy", Greedy)
    register("quitter", Quitter)
"""


def misbehave(*args):
    make_module("mia_test_misbehaving", MISBEHAVING)
    return invoke("-p", "mia_test_misbehaving", "--members", "100", "--quiet", "--no-cache",
                  *args)


@pytest.mark.parametrize(("mode", "message"), [
    ("shape", "Error: target 'bad-target' (plugin 'mia_test_misbehaving'): its model returns "
              "outputs of shape (64, 3) for 64 records; expected logits of shape (64, 2)"),
    ("nan", "Error: target 'bad-target' (plugin 'mia_test_misbehaving'): its trained model "
            "outputs NaN or infinite logits"),
    ("diverge", "Error: target 'bad-target' (plugin 'mia_test_misbehaving'): training stopped: "
                "the loss became "),
    ("exit", "Error: target 'bad-target' (plugin 'mia_test_misbehaving') called exit(3) in "
             "fit()"),
])
def test_a_broken_target_is_blamed_by_name(mode, message):
    result = misbehave("--dataset", "vectors", "--target", "bad-target", "--attack",
                       "loss-threshold", "-o", f"target.mode={mode}")
    assert one_line(result, 1).startswith(message)


def test_non_finite_inputs_blame_the_dataset():
    result = misbehave("--dataset", "nan-vectors", "--attack", "loss-threshold")
    assert one_line(result, 1) == ("Error: dataset 'nan-vectors' (plugin 'mia_test_misbehaving') "
                                   "returned 1 record(s) with NaN or infinite inputs")


@pytest.mark.parametrize(("attack", "message"), [
    ("string-threshold", "Error: attack 'string-threshold' returned the threshold 'high', which "
                         "is not a number"),
    ("greedy", "Error: attack 'greedy' asked for reference models, which exist only under the "
               "population threat model; declare threat_model = ThreatModel.POPULATION"),
    ("quitter", "Error: attack 'quitter' (plugin 'mia_test_misbehaving') called exit(0) in "
                "score()"),
])
def test_a_broken_attack_is_blamed_by_name(attack, message):
    result = misbehave("--dataset", "blobs", "--attack", attack, "-o", "target.epochs=1")
    assert one_line(result, 1) == message


def test_plugin_that_exits_at_import_is_listed_as_broken():
    make_module("mia_test_exit_hook", "from mia_core import hookimpl\n\n@hookimpl\n"
                "def register_attacks(register):\n    raise SystemExit(5)\n")
    result = invoke("-p", "mia_test_exit_hook", "--list-plugins")
    assert result.exit_code == 0
    assert ("mia_test_exit_hook ((module) -)  BROKEN: hook register_attacks raised SystemExit: "
            "the plugin called exit(5)") in result.output


def test_blocking_an_unknown_plugin_warns_with_the_known_names():
    result = invoke(*BLOBS, "--attack", "loss-threshold", "-p", "no:mia-torch-atack")
    assert result.exit_code == 0, result.output
    warning = result.stderr.strip().splitlines()[0]
    assert warning.startswith("warning: -p no:mia-torch-atack matches no installed plugin "
                              "(installed plugins: ")
    assert "mia-torch-attack" in warning


def test_plugin_index_follows_cache_dir(tmp_path):
    env_dir, given = tmp_path / "env", tmp_path / "given"
    result = invoke("--list-plugins", "--cache-dir", str(given), MIA_CACHE_DIR=str(env_dir))
    assert result.exit_code == 0
    assert (given / "plugin-index.json").exists() and not env_dir.exists()


def test_threads_flag_sets_torch_threads():
    before = torch.get_num_threads()
    try:
        result = invoke(*BLOBS, "--attack", "loss-threshold", "--threads", "1", "--json")
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
        assert json.loads(result.stdout)["threads"] == 1
    finally:
        torch.set_num_threads(before)
    assert one_line(invoke(*BLOBS, "--attack", "loss-threshold", "--threads", "0"), 2) \
        .startswith("Error: Invalid value for '--threads'")


def test_records_the_target_cannot_take_are_a_usage_error_before_training(tmp_path,
                                                                          monkeypatch):
    """Tabular records for LeNet (or 8x8 images) are the user's choice of components: one
    line, exit 2, naming the records and the targets that take them, before any training;
    the same with a model trained elsewhere."""
    from mia_core.experiment import external, sources

    def never(*args, **kwargs):
        raise AssertionError("a model was trained or loaded: the check came too late")

    monkeypatch.setattr(sources, "train_target", never)
    monkeypatch.setattr(external, "load_target", never)
    line = one_line(invoke("--dataset", "breast-cancer", "--target", "cnn", "--attack",
                           "loss-threshold", "-q", "--no-cache"), 2)
    assert line.startswith("Error: target 'cnn' cannot take the records of dataset "
                           "'breast-cancer' (records of shape (30,), float32, 2 classes): LeNet "
                           "takes square images (C, H, H) of at least 16x16 pixels"), line
    assert "; targets that take them: mlp" in line and "wrn" not in line
    ids = tmp_path / "members.txt"
    ids.write_text("\n".join(map(str, range(0, 1797, 2))))
    model = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(1)}, model)
    line = one_line(invoke("--dataset", "digits", "--target", "cnn", "--attack",
                           "loss-threshold", "--model", str(model), "--train-records",
                           str(ids), "-q", "--no-cache"), 2)
    assert "(records of shape (1, 8, 8), float32, 10 classes): LeNet takes square images" in line
    assert "targets that take them: mlp, wrn" in line


def test_a_target_whose_model_fails_on_the_records_is_a_usage_error():
    """The dry build also runs the untrained model on two records: a model that cannot take
    them (here: built for other widths) is named with its error, exit 2."""
    make_module("mia_narrow_target", """
import torch
from mia_core import ClassifierTarget, RecipeOptions, hookimpl

class Narrow(ClassifierTarget):
    def build(self, data):
        return torch.nn.Linear(7, data.num_classes)

@hookimpl
def register_targets(register):
    register("narrow", Narrow, options=RecipeOptions)
""")
    line = one_line(invoke("--dataset", "breast-cancer", "--target", "narrow", "-p",
                           "mia_narrow_target", "--attack", "loss-threshold", "-q",
                           "--no-cache"), 2)
    assert line.startswith("Error: target 'narrow' cannot take the records of dataset "
                           "'breast-cancer' (records of shape (30,), float32, 2 classes): its "
                           "model fails on them (RuntimeError: mat1 and mat2 shapes cannot be "
                           "multiplied"), line


def test_a_csv_value_beyond_float32_names_its_line_and_column(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,label\n1,2,0\n\n3,1e308,1\n")  # the blank line still counts
    line = one_line(invoke("--dataset", "csv", "-o", f"csv.path={path}", "-o", "csv.label=label",
                           "--target", "mlp", "--attack", "loss-threshold", "-q"), 2)
    assert line == (f"Error: CSV {path}, line 4: column 'b' holds 1e308, beyond the float32 "
                    "range of features (±3.4e38); rescale the column")


def test_a_dataset_archive_that_would_unpack_outside_its_folder_is_bad_input(tmp_path):
    from .test_tabular import _tgz

    folder = tmp_path / "purchase100"
    folder.mkdir()
    _tgz(folder / "dataset_purchase.tgz", {"../escape": "x"})
    line = one_line(invoke("--dataset", "purchase100", "--data-dir", str(tmp_path), "--target",
                           "mlp", "--attack", "loss-threshold", "-q"), 2)
    assert "holds '../escape', which would unpack outside its folder" in line
    assert not (tmp_path / "escape").exists()
