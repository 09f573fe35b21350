"""Auditing a model trained elsewhere: the README's example, end to end, recomputed by hand;
and every bad input refused in one line with exit 2 before any training."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import pickle

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file
from sklearn.metrics import roc_auc_score

from mia_core.cli.mia_run import run
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "audit_own_model" / "train.py"
MLP = ["--dataset", "breast-cancer", "--target", "mlp", "-o", "mlp.hidden=64",
       "-o", "mlp.activation=relu"]
FAST = ["-o", "mlp.epochs=100", "-o", "mlp.batch_size=32", "--reference-models", "4"]


def invoke(*args):
    return CliRunner().invoke(run, ["--no-cache", "-q", *args])


def example_module():
    spec = importlib.util.spec_from_file_location("own_model_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The example's model and member list, made by running the example's code."""
    folder = tmp_path_factory.mktemp("own")
    example_module().train(folder)
    return folder


@pytest.fixture(scope="module")
def audit(trained):
    out = trained / "audit"
    result = invoke(*MLP, *FAST, "--model", str(trained / "model.safetensors"),
                    "--train-records", str(trained / "members.txt"), "--attack", "lira",
                    "--attack", "loss-threshold", "--output", str(out))
    assert result.exit_code == 0, result.output
    return out, result.output


def rows(out):
    with (out / "evaluation.csv").open() as f:
        return list(csv.DictReader(f))


def test_ground_truth_is_exactly_the_given_members(trained, audit):
    out, _ = audit
    members = {int(line) for line in (trained / "members.txt").read_text().split()}
    table = rows(out)
    given = [int(r["record"]) for r in table if r["is_member"] == "1"]
    others = [int(r["record"]) for r in table if r["is_member"] == "0"]
    assert set(given) <= members and not set(others) & members
    assert len(given) == len(others) > 0  # balanced
    split = json.loads((out / "split.json").read_text())
    assert not set(split["population"]) & members  # reference data never holds a member
    assert set(split["known_members"]) <= members
    assert not set(split["known_nonmembers"]) & members


def test_metrics_recomputed_from_an_independent_forward_pass(trained, audit):
    """loss-threshold's scores are the saved model's log-probability of the true label, and
    the AUC in results.json is sklearn's on evaluation.csv."""
    out, _ = audit
    example = example_module()
    x, y = example.load_data()
    state = load_file(str(trained / "model.safetensors"))
    model = example.Classifier(state["mean"], state["std"], 2)
    model.load_state_dict(state)
    table = rows(out)
    index = torch.tensor([int(r["record"]) for r in table])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(x[index]), 1)
    expected = log_probs[torch.arange(len(index)), y[index]]
    scores = torch.tensor([float(r["score:loss-threshold"]) for r in table])
    assert torch.allclose(scores, expected, atol=1e-5)
    assert [int(r["label"]) for r in table] == y[index].tolist()
    results = json.loads((out / "results.json").read_text())
    truth = [int(r["is_member"]) for r in table]
    for attack in results["attacks"]:
        name = attack["name"]
        auc = roc_auc_score(truth, [float(r[f"score:{name}"]) for r in table])
        assert attack["metrics"]["auc"] == pytest.approx(auc, abs=1e-9)


def test_results_say_where_the_ground_truth_came_from(trained, audit):
    out, output = audit
    results = json.loads((out / "results.json").read_text())
    given = results["given_model"]
    digest = hashlib.sha256((trained / "model.safetensors").read_bytes()).hexdigest()
    assert given["sha256"] == digest
    assert given["train_records"].endswith("members.txt") and given["heldout_records"] is None
    assert "asserts the model never saw" in given["claim"]
    assert "trained elsewhere" in output and "284 records listed" in output
    assert results["config"]["model"].endswith("model.safetensors")
    assert results["privacy"] is None  # nothing is known of how it was trained


def test_a_torch_state_dict_audits_like_safetensors(trained, tmp_path):
    state = load_file(str(trained / "model.safetensors"))
    torch.save(state, tmp_path / "model.pt")
    tables = [audit_rows(tmp_path / "model.pt", trained, tmp_path),
              audit_rows(trained / "model.safetensors", trained, tmp_path)]
    assert tables[0] == tables[1]
    assert len(tables[0]) == 284  # no population: all 284 members used, half of them known


def audit_rows(model, trained, tmp_path):
    """evaluation.csv of a loss-threshold audit of ``model`` with the example's members."""
    out = tmp_path / f"{model.parent.name}-{model.name}".replace(".", "-")
    result = invoke(*MLP, "--model", str(model), "--train-records", str(trained / "members.txt"),
                    "--attack", "loss-threshold", "--output", str(out))
    assert result.exit_code == 0, result.output
    return rows(out)


def test_heldout_records_are_the_only_non_members(trained, tmp_path):
    members = [int(v) for v in (trained / "members.txt").read_text().split()]
    others = sorted(set(range(569)) - set(members))[:100]
    heldout = tmp_path / "heldout.csv"
    heldout.write_text("record_id,note\n" + "".join(f"{i},x\n" for i in others))
    out = tmp_path / "out"
    result = invoke(*MLP, "--model", str(trained / "model.safetensors"), "--train-records",
                    str(trained / "members.txt"), "--heldout-records", str(heldout),
                    "--attack", "loss-threshold", "--output", str(out))
    assert result.exit_code == 0, result.output
    table = rows(out)
    non = {int(r["record"]) for r in table if r["is_member"] == "0"}
    assert non <= set(others) and len(non) == len(table) // 2
    assert "the 100 records listed in" in json.loads(
        (out / "results.json").read_text())["given_model"]["claim"]


def _bad(tmp_path, trained, name, content):
    path = tmp_path / name
    path.write_text(content)
    return ["--model", str(trained / "model.safetensors"), "--train-records", str(path)]


@pytest.mark.parametrize("name,content,message", [
    ("ids.txt", "1\n2\n2\n", "record id 2 is listed 2 times"),
    ("ids.txt", "1\n5000\n", "record id 5000 is outside the dataset's 569 records"),
    ("ids.txt", "1\n-3\n", "record id -3 is outside"),
    ("ids.txt", "1\nseven\n", "line 2: 'seven' is not a record id"),
    ("ids.txt", "# nothing\n", "lists no record ids"),
    ("ids.csv", "a,b\n1,2\n", "has no column record_id / id / index"),
])
def test_bad_member_lists_are_one_line_and_exit_2(trained, tmp_path, name, content, message):
    out = tmp_path / "out"
    result = invoke(*MLP, *_bad(tmp_path, trained, name, content), "--attack",
                    "loss-threshold", "--output", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (out / "results.json").exists()


class Whole(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(30, 2)


def _model_files(tmp_path, trained):
    """Bad --model files: a wrong architecture, a pickled module, a pickle, a missing file."""
    state = load_file(str(trained / "model.safetensors"))
    narrow = {k: v for k, v in state.items()}
    narrow["layers.0.weight"] = narrow["layers.0.weight"][:32]
    save_file(narrow, str(tmp_path / "narrow.safetensors"))
    torch.save(Whole(), tmp_path / "module.pt")
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"w": [1, 2]}))
    return {
        "narrow.safetensors": "layers.0.weight has shape (32, 30) in the file but (64, 30)",
        "module.pt": "cannot be read without unpickling code",
        "plain.pkl": "cannot be read without unpickling code",
        "missing.pt": "is not a file",
    }


def test_bad_model_files_are_one_line_and_exit_2(trained, tmp_path):
    for name, message in _model_files(tmp_path, trained).items():
        result = invoke(*MLP, "--model", str(tmp_path / name), "--train-records",
                        str(trained / "members.txt"), "--attack", "loss-threshold")
        assert result.exit_code == 2, (name, result.output)
        assert message in result.output, (name, result.output)
        assert len(result.output.strip().splitlines()) == 1


def test_an_architecture_mismatch_names_file_and_target(trained):
    result = invoke(*MLP[:-4], "--model", str(trained / "model.safetensors"),
                    "--train-records", str(trained / "members.txt"), "--attack", "lira")
    assert result.exit_code == 2
    assert "does not fit target 'mlp'" in result.output and "(MLP)" in result.output


@pytest.mark.parametrize("extra,message", [
    (["--control"], "drop --control"),
    (["--canaries", "10"], "drop --canaries"),
])
def test_retraining_modes_are_refused_with_a_given_model(trained, extra, message):
    result = invoke(*MLP, "--model", str(trained / "model.safetensors"), "--train-records",
                    str(trained / "members.txt"), "--attack", "loss-threshold", *extra)
    assert result.exit_code == 2 and message in result.output


def test_model_and_member_list_need_each_other(trained):
    alone = invoke(*MLP, "--model", str(trained / "model.safetensors"), "--attack", "lira")
    assert alone.exit_code == 2 and "--model needs --train-records" in alone.output
    lists = invoke(*MLP, "--train-records", str(trained / "members.txt"), "--attack", "lira")
    assert lists.exit_code == 2 and "add --model FILE" in lists.output


def test_member_and_heldout_lists_must_not_overlap(trained, tmp_path):
    heldout = tmp_path / "heldout.txt"
    heldout.write_text((trained / "members.txt").read_text().split()[0] + "\n")
    result = invoke(*MLP, "--model", str(trained / "model.safetensors"), "--train-records",
                    str(trained / "members.txt"), "--heldout-records", str(heldout),
                    "--attack", "loss-threshold")
    assert result.exit_code == 2 and "in both --train-records and --heldout-records" in \
        result.output


def _scripted(trained, folder):
    """The example's model exported twice: TorchScript and torch.export (dynamic batch)."""
    import warnings

    example = example_module()
    state = load_file(str(trained / "model.safetensors"))
    model = example.Classifier(state["mean"], state["std"], 2)
    model.load_state_dict(state)
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(model), str(folder / "model.ts"))
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (torch.zeros(4, 30),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(folder / "model.pt2"))


def test_models_without_code_audit_with_known_members_attacks(trained, tmp_path):
    _scripted(trained, tmp_path)
    reference = tmp_path / "reference"
    plain = invoke(*MLP, "--model", str(trained / "model.safetensors"), "--train-records",
                   str(trained / "members.txt"), "--attack", "loss-threshold",
                   "--output", str(reference))
    assert plain.exit_code == 0, plain.output
    for name in ("model.ts", "model.pt2"):
        out = tmp_path / name.replace(".", "-")
        result = invoke("--dataset", "breast-cancer", "--target", "torchscript", "--model",
                        str(tmp_path / name), "--train-records", str(trained / "members.txt"),
                        "--attack", "loss-threshold", "--output", str(out))
        assert result.exit_code == 0, (name, result.output)
        got = {r["record"]: float(r["score:loss-threshold"]) for r in rows(out)}
        want = {r["record"]: float(r["score:loss-threshold"]) for r in rows(reference)}
        assert got.keys() == want.keys()
        assert all(abs(got[k] - want[k]) < 1e-5 for k in got)


def test_models_without_code_refuse_what_needs_training(trained, tmp_path):
    _scripted(trained, tmp_path)
    given = ["--dataset", "breast-cancer", "--target", "torchscript", "--model",
             str(tmp_path / "model.ts"), "--train-records", str(trained / "members.txt")]
    lira = invoke(*given, "--attack", "lira", "--attack", "loss-threshold")
    assert lira.exit_code == 2 and "attack(s) lira train reference models" in lira.output
    alone = invoke("--dataset", "breast-cancer", "--target", "torchscript", "--attack",
                   "loss-threshold")
    assert alone.exit_code == 2 and "add --model FILE" in alone.output
    wrong = invoke(*MLP, "--model", str(tmp_path / "model.ts"), "--train-records",
                   str(trained / "members.txt"), "--attack", "loss-threshold")
    assert wrong.exit_code == 2 and "is a TorchScript archive; audit it with --target " \
        "torchscript" in wrong.output


def test_every_benchmark_config_is_a_valid_run():
    """configs/*.toml name real components with real options (checked as `mia config`
    does: no data loaded, nothing trained)."""
    from mia_core.cli.group import mia

    configs = sorted((ROOT / "configs").glob("*.toml"))
    assert len(configs) >= 4
    for path in configs:
        result = CliRunner().invoke(mia, ["config", str(path)])
        assert result.exit_code == 0, (path.name, result.output)
        text = path.read_text()
        assert "UNVERIFIED" in text or "Measured" in text, path.name  # says what was run


def test_the_paper_configs_hold_the_papers_settings_and_figures():
    """The LiRA demo's and RMIA's published set-ups, as configs: the settings the sources
    used, the figures they report, and a plain word that nobody has run them here yet."""
    import tomllib

    from mia_torch_attack.rmia import RmiaOptions

    rmia_text = (ROOT / "configs" / "cifar10-rmia-paper.toml").read_text()
    rmia = tomllib.loads(rmia_text)
    options = RmiaOptions(**rmia["options"]["rmia"])  # real option names and valid values
    assert (options.signal, options.temperature, options.taylor_m, options.taylor_n,
            options.gamma, options.a, options.queries, options.trim, options.mode) == \
        ("taylor-soft-margin", 2.0, 0.6, 4, 2.0, 0.3, 18, 0.2, "offline")
    assert rmia["reference-models"] == 4 and rmia["target"] == "wrn"
    lira_text = (ROOT / "configs" / "cifar10-lira-demo.toml").read_text()
    lira = tomllib.loads(lira_text)
    assert lira["reference-models"] == 15 and lira["options"]["lira"]["queries"] == 2
    assert lira["options"]["wrn"]["epochs"] == 100
    for figure in ("0.668 / 1.69 %", "0.686 / 5.93 %", "0.549 / 1.30 %", "0.555 / 2.99 %",
                   "0.592 / 0.09 %"):
        assert figure in lira_text
    for text in (rmia_text, lira_text):
        assert "UNVERIFIED until run on a GPU" in text


def test_the_readme_audit_example_runs_as_written(tmp_path):
    """The README's "audit your own model" commands, run literally from a scratch folder."""
    import os
    import re
    import shlex
    import subprocess
    import sys

    block = (ROOT / "README.md").read_text().split("<!-- audit-example -->", 1)[1]
    commands = re.search(r"```console\n(.*?)```", block, re.S).group(1)
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "MIA_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    for line in commands.replace("\\\n", " ").splitlines():
        argv = shlex.split(line.removeprefix("$ "))
        argv[0] = argv[0].replace(".venv/bin", bin_dir)
        argv = [str(ROOT / a) if a.startswith("examples/") else a for a in argv]
        done = subprocess.run([*argv, "-q"] if "mia-run" in argv[0] else argv, cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "own-model" / "audit" / "results.json").read_text())
    assert [a["name"] for a in results["attacks"]] == ["lira", "loss-threshold"]
    assert results["split_sizes"]["population"] > 0 and results["given_model"]["sha256"]


def test_a_rerun_loads_the_reference_models_from_the_cache(trained, tmp_path):
    args = [*MLP, *FAST, "--model", str(trained / "model.safetensors"), "--train-records",
            str(trained / "members.txt"), "--attack", "rmia", "--cache-dir",
            str(tmp_path / "cache"), "--json", "-q"]
    first = json.loads(CliRunner().invoke(run, args).output)
    second = json.loads(CliRunner().invoke(run, args).output)
    assert (first["models_trained"], first["models_from_cache"]) == (4, 0)
    assert (second["models_trained"], second["models_from_cache"]) == (0, 4)
    assert second["attacks"][0]["metrics"] == first["attacks"][0]["metrics"]


def test_the_given_members_are_drawn_whatever_the_order_of_the_list(trained, audit, tmp_path):
    """The split is drawn from the listed records with the run's seed: the same records in
    another order give the same split, and the members used are not simply the first ones
    of the file (the default uses about half of them: the rest are left for the
    population's share)."""
    out, _ = audit
    listed = [int(v) for v in (trained / "members.txt").read_text().split()]
    split = json.loads((out / "split.json").read_text())
    used = split["known_members"] + split["eval_members"]
    assert 0 < len(used) < len(listed)
    assert set(used) != set(listed[:len(used)]) and set(used) != set(listed[-len(used):])
    shuffled = tmp_path / "members.txt"
    order = torch.randperm(len(listed), generator=torch.Generator().manual_seed(5))
    shuffled.write_text("".join(f"{listed[i]}\n" for i in order.tolist()))
    again = tmp_path / "again"
    result = invoke(*MLP, *FAST, "--model", str(trained / "model.safetensors"),
                    "--train-records", str(shuffled), "--attack", "lira", "--attack",
                    "loss-threshold", "--output", str(again))
    assert result.exit_code == 0, result.output
    assert json.loads((again / "split.json").read_text()) == split
    assert rows(again) == rows(out)


def test_a_checkpoint_saved_from_data_parallel_audits_like_the_plain_one(trained, tmp_path):
    """Every key prefixed ``module.`` (a model saved through DataParallel or DDP): read as
    the model it wraps, with the same evaluation as the plain file."""
    state = load_file(str(trained / "model.safetensors"))
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "wrapped.pt")
    assert audit_rows(tmp_path / "wrapped.pt", trained, tmp_path) == audit_rows(
        trained / "model.safetensors", trained, tmp_path)
    half = {f"module.{k}" if i % 2 else k: v for i, (k, v) in enumerate(state.items())}
    torch.save(half, tmp_path / "half.pt")  # not a wrapper's file: still a mismatch
    result = invoke(*MLP, "--model", str(tmp_path / "half.pt"), "--train-records",
                    str(trained / "members.txt"), "--attack", "loss-threshold")
    assert result.exit_code == 2 and "does not fit" in result.output


def _warned(out) -> list[str]:
    return json.loads((out / "results.json").read_text())["warnings"]


def test_a_correct_audit_raises_no_doubt(audit):
    out, summary = audit
    assert _warned(out) == [] and "WARNING" not in summary
    assert 'class="warning"' not in (out / "report.html").read_text()


@pytest.mark.parametrize("fault", ["ids shifted by one", "inputs scaled otherwise"])
def test_a_model_that_does_not_look_trained_on_its_members_is_warned_about(trained, tmp_path,
                                                                           fault):
    """Built for real: the example's member ids shifted by one (all still in range), or its
    model fed inputs scaled otherwise than in training (its in-model standardisation
    statistics a hundred times off). Each warns in the summary, results.json and the
    report's first paragraph, naming the likely causes."""
    members = trained / "members.txt"
    model = trained / "model.safetensors"
    if fault == "ids shifted by one":
        members = tmp_path / "shifted.txt"
        ids = [int(v) for v in (trained / "members.txt").read_text().split()]
        members.write_text("".join(f"{i + 1}\n" for i in ids if i + 1 < 569))
    else:
        state = load_file(str(model))
        state["mean"] = state["mean"] + 100 * state["std"]
        model = tmp_path / "rescaled.safetensors"
        save_file(state, str(model))
    out = tmp_path / "out"
    result = invoke(*MLP, "--model", str(model), "--train-records", str(members), "--attack",
                    "loss-threshold", "--output", str(out))
    assert result.exit_code == 0, result.output
    warned = _warned(out)
    assert len(warned) == 1 and warned[0].startswith(
        "the model under audit does not look trained on its listed members: ")
    assert "off by one" in warned[0] and "scaled or laid out otherwise" in warned[0]
    assert f"WARNING: {warned[0]}." in result.output
    html = (out / "report.html").read_text()
    first = html.split("<section", 1)[1].split('id="headline"', 1)[0]
    assert 'class="warning"' in first and "does not look trained on its listed members" in first


def test_a_bad_id_file_is_named_by_its_flag_and_counts_the_other_bad_ids(tmp_path):
    from mia_core import ConfigError
    from mia_core.experiment.given import read_given_records

    train, held = tmp_path / "train.txt", tmp_path / "held.txt"
    train.write_text("1\n2\n")
    held.write_text("3\n")
    for name, (a, b), flag in (("train", ("7\n1\n9\n12\n", "3\n"), "--train-records"),
                               ("held", ("1\n2\n", "3\n8\n"), "--heldout-records")):
        train.write_text(a)
        held.write_text(b)
        with pytest.raises(ConfigError) as error:
            read_given_records(str(train), str(held), 5)
        message = str(error.value)
        assert message.startswith(f"{flag} {tmp_path / (name + '.txt')}: record id ")
        expected = ", and 2 more" if name == "train" else "(ids run from 0 to 4)"
        assert message.endswith(expected), message


def test_the_doubt_about_the_loss_counts_a_tie_as_not_lower():
    """Members' loss equal to the non-members' is "not lower": the listed members look no
    more trained-on than records the model never saw."""
    from mia_core import LabeledData
    from mia_core.experiment.external import doubts_about

    y = torch.tensor([0, 1, 0, 1])
    data = LabeledData(torch.zeros(4, 2), y, 2)
    logits = torch.tensor([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0], [0.0, 3.0]])  # all right
    same = doubts_about(logits, data, logits.clone(), data)
    assert len(same) == 1 and "is not lower than on the non-members" in same[0]
    worse = doubts_about(logits, data, logits * 0.5, data)  # non-members: higher loss
    assert worse == ()


def test_derived_seeds_are_wide_distinct_and_repeatable():
    from mia_core.config import derive_seed

    seeds = [derive_seed(s, f"attack:{n}") for s in range(20) for n in ("lira", "rmia", "x")]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < 2**63 for s in seeds) and max(seeds) > 2**60
    assert derive_seed(3, "target") == derive_seed(3, "target") != derive_seed(4, "target")
    digest = hashlib.sha256(b"0:target").digest()  # the documented rule, recomputed
    assert derive_seed(0, "target") == int.from_bytes(digest[:8], "little") & (2**63 - 1)


def test_a_damaged_safetensors_file_is_named_as_one(tmp_path):
    from mia_core import ConfigError
    from mia_core.experiment.given import read_state_dict

    good = tmp_path / "model.safetensors"
    save_file({"w": torch.ones(3)}, str(good))
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(good.read_bytes()[:-5])  # the last tensor's bytes cut short
    with pytest.raises(ConfigError) as error:
        read_state_dict(damaged)
    assert str(error.value).startswith(f"--model {damaged} is not a readable safetensors file (")


def test_members_all_puts_every_listed_member_in_the_split(trained, tmp_path):
    """breast-cancer's 569 records: the example lists some as members; --members all takes
    every one (known-members attacks need no population), and says so; the default says how
    many it used and why."""
    members = {int(v) for v in (trained / "members.txt").read_text().split()}
    given = ["--model", str(trained / "model.safetensors"), "--train-records",
             str(trained / "members.txt"), "--attack", "loss-threshold"]
    every = invoke(*MLP, *given, "--members", "all", "--output", str(tmp_path / "all"))
    assert every.exit_code == 0, every.output
    split = json.loads((tmp_path / "all" / "split.json").read_text())
    assert set(split["known_members"]) | set(split["eval_members"]) == members
    assert len(split["eval_nonmembers"]) == len(split["eval_members"])  # still balanced
    results = json.loads((tmp_path / "all" / "results.json").read_text())
    assert results["config"]["members"] == len(members)  # a rerun gets the number
    assert results["given_model"]["members_used"] == (f"all {len(members)} listed members "
                                                      "are in the split")
    assert f"members used: all {len(members)} listed members" in every.output
    report = (tmp_path / "all" / "report.html").read_text()
    assert f"Members used: all {len(members)} listed members are in the split." in report


def test_members_all_with_too_few_non_members_for_the_population_says_what_fits(trained):
    given = ["--model", str(trained / "model.safetensors"), "--train-records",
             str(trained / "members.txt")]
    members = len((trained / "members.txt").read_text().split())
    done = invoke(*MLP, *FAST, *given, "--attack", "lira", "--members", "all")
    others = 569 - members
    if others - members >= 20:  # the example's list leaves room: nothing to refuse here
        pytest.skip("the example lists few enough members for a population")
    assert done.exit_code == 2, done.output
    line = done.output.strip().splitlines()[-1]
    assert (f"--members all: the {members} listed members leave {max(others - members, 0)} "
            f"of the {others} non-members for the reference models of lira") in line, line
    assert "give --members" in line


def test_the_default_split_says_how_many_members_it_used_and_why(trained, audit):
    out, output = audit
    results = json.loads((out / "results.json").read_text())
    used = results["given_model"]["members_used"]
    count = results["config"]["members"]
    listed = len((trained / "members.txt").read_text().split())
    assert used.startswith(f"{count} of the {listed} listed members are in the split (the "
                           f"{569 - listed} non-members balance {count} and leave ")
    assert used.endswith("--members all uses every one where the non-members allow")
    assert f"members used: {used}" in output


def test_members_all_needs_a_given_model():
    done = invoke("--dataset", "digits", "--attack", "loss-threshold", "--members", "all")
    assert done.exit_code == 2
    assert "--members all takes every member of a given model" in done.output
    bad = invoke("--dataset", "digits", "--attack", "loss-threshold", "--members", "most")
    assert bad.exit_code == 2 and "'most' is neither a number nor 'all'" in bad.output


def test_a_target_trained_here_that_learned_nothing_is_warned_about():
    """A learning rate of 1e-9: the CNN answers its own members at chance, and the run says
    so (results' warnings, hence the summary and report); trained properly, or in a control
    run (whose target never saw the members), no such warning."""
    from mia_core.testing import run as run_here

    base = dict(dataset="tiny-images", attacks=["loss-threshold"], members=150,
                target="cnn")
    data = {"classes": "10", "size": "800"}
    untrained = run_here(**base, options={"target": {"epochs": 1, "lr": 1e-9},
                                          "dataset": data})
    assert untrained.target_train_accuracy < 0.2
    doubt = [w for w in untrained.warnings if w.startswith("the target learned almost nothing")]
    assert len(doubt) == 1, untrained.warnings
    assert f"{untrained.target_train_accuracy:.1%} of the records it was trained on" in doubt[0]
    trained = run_here(**base, options={"target": {"epochs": 15, "batch_size": 32},
                                        "dataset": data})
    assert trained.target_train_accuracy > 0.5
    assert not [w for w in trained.warnings if "learned almost nothing" in w]
    control = run_here(**base, control=True, options={"target": {"epochs": 1, "lr": 1e-9},
                                                      "dataset": data})
    assert not [w for w in control.warnings if "learned almost nothing" in w]
