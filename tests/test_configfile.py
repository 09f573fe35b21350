"""--config files, flag precedence, --print-config and rerunning from results.json."""

import json

from click.testing import CliRunner

from mia_core.cli.mia_run import run

EXPERIMENT = """\
dataset = "blobs"
attacks = ["loss-threshold"]
members = 150
known-fraction = 0.4
seed = 3

[options.target]
epochs = 2

[options.dataset]
size = 800
"""


def invoke(*args):
    return CliRunner().invoke(run, [*args, "--quiet", "--no-cache"])


def test_file_settings_are_used_and_flags_override(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    data = json.loads(invoke("--config", str(path), "--seed", "5", "-o", "target.epochs=1",
                             "--json").output)
    assert data["config"]["seed"] == 5  # flag wins
    assert data["config"]["members"] == 150 and data["config"]["known_fraction"] == 0.4
    assert data["options"]["target"]["epochs"] == 1  # -o wins per key
    assert data["options"]["dataset"]["size"] == 800  # file option kept


def test_print_config_round_trips(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    printed = invoke("--config", str(path), "--attack", "coin-flip", "--print-config").output
    assert 'attacks = ["coin-flip"]' in printed and "[options.\"target\"]\nepochs = 2" in printed
    again = tmp_path / "again.toml"
    again.write_text(printed)
    assert invoke("--config", str(again), "--print-config").output == printed


def test_results_json_reruns_the_same_experiment(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    first = invoke("--config", str(path), "--output", str(tmp_path / "a"))
    assert first.exit_code == 0, first.output
    again = invoke("--config", str(tmp_path / "a" / "results.json"), "--json")
    assert again.exit_code == 0, again.output
    original = json.loads((tmp_path / "a" / "results.json").read_text())
    rerun = json.loads(again.output)
    assert original["config"].pop("reporters") == ["json"]  # where results went is not rerun
    assert rerun["config"].pop("reporters") == []
    # the rerun pins every option the components ran with (as they normalised them), not
    # only the ones typed: a later release's defaults or another folder change nothing
    ran = {k: {o: str(v).lower() if isinstance(v, bool) else str(v) for o, v in values.items()}
           for k, values in original["options"].items() if k in ("dataset", "target")}
    assert rerun["config"].pop("options") == {**ran, "loss-threshold": {}}
    assert original["config"].pop("options") == {"target": {"epochs": "2"},
                                                 "dataset": {"size": "800"}}
    assert rerun["config"] == original["config"]
    assert rerun["options"] == {k: v for k, v in original["options"].items() if k != "json"}
    assert rerun["attacks"][0]["metrics"] == original["attacks"][0]["metrics"]


def test_unknown_key_and_bad_value_are_one_line_errors(tmp_path):
    bad_key = tmp_path / "bad.toml"
    bad_key.write_text('dataset = "blobs"\nmembrs = 10\n')
    result = invoke("--config", str(bad_key))
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: unknown key 'membrs' in {bad_key}; did you mean " \
                                    "'members'?"
    bad_value = tmp_path / "value.toml"
    bad_value.write_text('seed = "soon"\n')
    result = invoke("--config", str(bad_value))
    assert result.exit_code == 2
    assert result.output.strip() == (f"Error: bad value for 'seed' in {bad_value}: must be an "
                                     'integer, got "soon"')
    broken = tmp_path / "broken.toml"
    broken.write_text("dataset = \n")
    result = invoke("--config", str(broken))
    assert result.exit_code == 2 and result.output.startswith(
        f"Error: --config {broken} is not valid toml:")
    result = invoke("--config", str(tmp_path / "missing.toml"))
    assert result.exit_code == 2 and "cannot read --config" in result.output


def test_executor_and_workers_come_from_the_file_and_are_typed(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('executor = "local"\nworkers = 2\n' + EXPERIMENT +
                    "\n[options.local]\nthreads = 1\n")
    printed = invoke("--config", str(path), "--print-config").output
    assert 'executor = "local"\n' in printed and "workers = 2\n" in printed
    assert '[options."local"]\nthreads = 1' in printed
    data = json.loads(invoke("--config", str(path), "--json").output)
    assert (data["config"]["executor"], data["config"]["workers"]) == ("local", 2)
    assert data["options"]["executor"] == {"threads": 1, "batch": 0}
    path.write_text('workers = "2"\n' + EXPERIMENT)
    result = invoke("--config", str(path))
    assert result.exit_code == 2 and "workers" in result.output and "an integer" in result.output
