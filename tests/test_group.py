"""The `mia` command group: its commands match mia-run's modes, plugins add commands, a broken
plugin never breaks `mia --help`, and `mia cache` lists and clears what runs cached."""

import json

from click.testing import CliRunner

from mia_core.cli.group import mia
from mia_core.cli.mia_run import run

from .conftest import FakeDist, FakeEntryPoint, make_module

BLOBS = ["--dataset", "blobs", "--attack", "loss-threshold", "--members", "100",
         "-o", "target.epochs=1", "--quiet"]

HELLO = """
import click
from mia_core import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command()
    @click.argument("who")
    def hello(who):
        '''Greet someone.'''
        click.echo(f"hello, {who}")
"""

BROKEN_COMMANDS = """
from mia_core import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command()
    def half():
        '''Added before the hook failed.'''
    raise RuntimeError("no commands today")
"""

HIJACK = """
import click
from mia_core import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command("run")
    def fake_run():
        click.echo("not the real run")
"""


def mia_invoke(*args, **env):
    return CliRunner().invoke(mia, list(args), env=env or None)


def fake(name, source):
    return FakeEntryPoint(name, make_module(f"mia_test_cmd_{name}", source),
                          FakeDist(f"mia-{name}", "1.0"))


def test_help_lists_every_command_with_one_line():
    result = mia_invoke("--help")
    assert result.exit_code == 0, result.output
    commands = result.output.split("Commands:\n")[1].splitlines()
    names = [line.split()[0] for line in commands if line.strip()]
    assert names == ["cache", "config", "describe", "metrics", "plugins", "report", "run"]
    assert all(not line.rstrip().endswith("...") for line in commands)  # one whole line each


def test_mia_run_is_mia_run():
    direct = CliRunner().invoke(run, [*BLOBS, "--json", "--no-cache"])
    grouped = mia_invoke("run", *BLOBS, "--json", "--no-cache")
    assert direct.exit_code == grouped.exit_code == 0, grouped.output
    a, b = json.loads(direct.output), json.loads(grouped.output)
    assert a["attacks"][0]["metrics"] == b["attacks"][0]["metrics"]
    assert a["config"] == b["config"]


def test_plugins_and_describe_match_the_old_flags():
    listing = mia_invoke("plugins", "--json")
    assert listing.exit_code == 0, listing.output
    assert json.loads(listing.output) == json.loads(
        CliRunner().invoke(run, ["--list-plugins", "--json"]).output)
    described = mia_invoke("describe", "lira")
    assert described.exit_code == 0
    assert described.output == CliRunner().invoke(run, ["--describe", "lira"]).output
    assert described.output.startswith("attack 'lira': ")
    unknown = mia_invoke("describe", "lirra")
    assert unknown.exit_code == 2
    assert ("no dataset, target, attack, reporter or executor called 'lirra'; did you mean "
            "'lira'") in unknown.output


def test_config_checks_names_and_options_without_training(tmp_path, private_model_cache):
    good = tmp_path / "exp.toml"
    good.write_text('dataset = "blobs"\nattack = ["loss-threshold"]\nmembers = 100\n'
                    '[options.target]\nepochs = 1\n')
    printed = mia_invoke("config", str(good))
    assert printed.exit_code == 0, printed.output
    assert printed.output == CliRunner().invoke(
        run, ["--config", str(good), "--print-config"]).output
    assert 'attacks = ["loss-threshold"]' in printed.output
    overridden = mia_invoke("config", str(good), "--seed", "7")
    assert "seed = 7\n" in overridden.output
    bad = tmp_path / "bad.toml"
    bad.write_text('dataset = "blobs"\nattack = ["loss-treshold"]\n')
    refused = mia_invoke("config", str(bad))
    assert refused.exit_code == 2
    assert refused.output.startswith("Error: unknown attack 'loss-treshold'; did you mean "
                                     "'loss-threshold'")
    option = tmp_path / "option.toml"
    option.write_text('dataset = "blobs"\nattack = "loss-threshold"\n[options.target]\n'
                      'epochs = "many"\n')
    assert mia_invoke("config", str(option)).exit_code == 2
    assert not list(private_model_cache.glob("*.pt"))  # checking trained nothing


def test_cache_lists_and_clears_what_runs_cached(private_model_cache):
    assert mia_invoke("run", *BLOBS).exit_code == 0
    listed = mia_invoke("cache", "list", "--json")
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.output)
    assert data["folder"] == str(private_model_cache)
    (entry,) = data["models"]
    assert (entry["dataset"], entry["target"], entry["records"]) == ("blobs", "cnn", 100)
    assert entry["bytes"] == (private_model_cache / f"{entry['key']}.pt").stat().st_size > 0
    text = mia_invoke("cache", "list").output
    assert "1 model(s)" in text and "blobs / cnn seed" in text
    refused = mia_invoke("cache", "clear")  # no terminal to say yes: nothing is removed
    assert refused.exit_code == 1 and "aborted" in refused.output
    assert (private_model_cache / f"{entry['key']}.pt").exists()
    cleared = mia_invoke("cache", "clear", "--yes")
    assert cleared.exit_code == 0 and "removed 1 model(s)" in cleared.output
    assert not list(private_model_cache.glob("*.pt"))
    assert not list(private_model_cache.glob(f"{entry['key']}*"))
    assert json.loads(mia_invoke("cache", "list", "--json").output)["models"] == []


def test_a_plugin_adds_a_command(fake_entry_points):
    fake_entry_points(fake("hello", HELLO))
    help_text = mia_invoke("--help").output
    assert "hello" in help_text and "Greet someone." in help_text
    result = mia_invoke("hello", "auditor")
    assert result.exit_code == 0 and result.output == "hello, auditor\n"
    listing = mia_invoke("plugins").output
    assert "hello (mia-hello 1.0)  hooks: register_commands" in listing


def test_a_broken_plugin_never_breaks_the_group(fake_entry_points):
    fake_entry_points(fake("broken", BROKEN_COMMANDS), fake("hello", HELLO),
                      fake("hijack", HIJACK))
    result = mia_invoke("--help")
    assert result.exit_code == 0, result.output
    assert ("warning: plugin 'broken' could not add its commands: RuntimeError: no commands "
            "today") in result.stderr
    assert "warning: plugin 'hijack' tried to replace the command 'run'" in result.stderr
    names = [line.split()[0] for line in result.stdout.split("Commands:\n")[1].splitlines()]
    assert names == ["cache", "config", "describe", "hello", "metrics", "plugins", "report",
                     "run"]  # no "half"
    real = mia_invoke("run", "--help")
    assert "not the real run" not in real.output and "--dataset" in real.output


def test_trace_shows_each_hook_call_and_its_plugins():
    result = CliRunner().invoke(run, ["--list-plugins"], env={"MIA_TRACE_PLUGINS": "1"})
    assert result.exit_code == 0
    assert "mia-core trace: hook register_attacks -> mia-torch-attack" in result.stderr
    assert "mia-core trace: hook register_reporters -> json_reporter" in result.stderr
    quiet = CliRunner().invoke(run, ["--list-plugins"])
    assert "mia-core trace" not in quiet.stderr


def test_describe_says_what_tensor_a_dataset_hands_the_model(tmp_path, monkeypatch):
    """digits is loaded and measured; cifar10, not downloaded, is named as such without a
    download being tried or a file written."""
    import urllib.request

    described = mia_invoke("describe", "digits")
    assert described.exit_code == 0, described.output
    assert ("records (what the model is handed, default options): 1,797 records; each x is "
            "float32 (1, 8, 8), values 0 to 1 (mean 0.3053); y: 10 classes") in described.output

    def no_network(*args, **kwargs):
        raise AssertionError("describe tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("MIA_DATA_DIR", str(data))
    cifar = mia_invoke("describe", "cifar10", "--json")
    assert cifar.exit_code == 0, cifar.output
    found = json.loads(cifar.output)[0]["records"]
    assert found.startswith("unknown until downloaded: CIFAR-10 is not downloaded yet"), found
    assert not any(data.iterdir())


def test_a_summary_of_records_gives_dtype_shape_range_lengths_and_classes():
    import torch

    from mia_core import LabeledData, Records

    tokens = Records(torch.tensor([[256, 104, 105, 257], [256, 7, 257, 258]]),
                     lengths=torch.tensor([4, 3]))
    assert tokens.summary() == "2 records; each x is int64 (4,), ids 7 to 258, 3 to 4 long"
    images = LabeledData(torch.tensor([[[0.5, -1.0]], [[2.0, 0.25]]]), torch.tensor([0, 2]), 3)
    assert images.summary() == ("2 records; each x is float32 (1, 2), values -1 to 2 (mean "
                                "0.4375); y: 3 classes")
