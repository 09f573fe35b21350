"""Plugin selection knobs and failure modes, through the real CLI: exact line, exit code."""

import pytest
from click.testing import CliRunner

from mia_core.cli.mia_run import run

from .conftest import FakeDist, FakeEntryPoint, make_module

RUN = ["--dataset", "mnist", "--attack", "torch-mlp", "--quiet"]


@pytest.fixture(autouse=True)
def fresh_plugin_index(tmp_path, monkeypatch):
    """Each test starts with no memory of what plugins provided before."""
    monkeypatch.setenv("MIA_CACHE_DIR", str(tmp_path / "cache"))


def invoke(*args, **env):
    return CliRunner().invoke(run, list(args), env={"MIA_DISABLE_PLUGIN_AUTOLOAD": None,
                                                    "MIA_PLUGINS": None, **env})


def one_line(result, code):
    assert result.exit_code == code, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    return result.output.strip()


def test_autoload_off_loads_nothing_and_says_why():
    result = invoke("--list-plugins", MIA_DISABLE_PLUGIN_AUTOLOAD="1")
    assert "mia-mnist-data (mia-mnist-data 0.1.0)  NOT LOADED: autoload off " \
           "(MIA_DISABLE_PLUGIN_AUTOLOAD)" in result.output
    line = one_line(invoke(*RUN, MIA_DISABLE_PLUGIN_AUTOLOAD="1"), 2)
    assert line.startswith("Error: unknown dataset 'mnist' (available: tensors; see "
                           "mia-run --list-plugins); plugins not loaded: ")
    assert "mia-mnist-data [autoload off (MIA_DISABLE_PLUGIN_AUTOLOAD)]" in line


def test_autoload_off_with_p_loads_just_that_plugin():
    result = invoke("-p", "mia-cnn-target", "--list-plugins", MIA_DISABLE_PLUGIN_AUTOLOAD="1")
    assert "mia-cnn-target (mia-cnn-target 0.1.0)  hooks: register_targets; provides: " \
           "target:cnn" in (
        result.output)
    assert "mia-torch-attack (mia-torch-attack 0.1.0)  NOT LOADED" in result.output


def test_only_listed_plugins_load():
    result = invoke("--list-plugins", "--json", MIA_PLUGINS="mia-mnist-data,mia-cnn-target")
    assert '"name": "torch-mlp"' not in result.output
    line = one_line(invoke(*RUN, MIA_PLUGINS="mia-mnist-data,mia-cnn-target"), 2)
    assert line.startswith("Error: unknown attack 'torch-mlp' (available: none installed; "
                           "see mia-run --list-plugins); plugins not loaded:")
    assert "mia-torch-attack [not in MIA_PLUGINS]" in line


def test_block_a_builtin_plugin_for_one_run():
    line = one_line(invoke("-p", "no:mia-mnist-data", *RUN), 2)  # never loaded: names unknown
    assert line == ("Error: unknown dataset 'mnist' (available: blobs, breast-cancer, cifar10, "
                    "cifar100, csv, digits, image-folder, purchase100, tensors, texas100, text, "
                    "tiny-gaussians, wikimia, wordnet-glosses; see mia-run --list-plugins); "
                    "plugins not loaded: mia-mnist-data [blocked (-p no:mia-mnist-data)]")
    invoke("--list-plugins")  # a normal run remembers what each plugin provides
    line = one_line(invoke("-p", "no:mia-mnist-data", *RUN), 2)
    assert line == ("Error: dataset 'mnist' comes from plugin 'mia-mnist-data' (mia-mnist-data "
                    "0.1.0), which is not loaded: blocked (-p no:mia-mnist-data)")
    listing = invoke("-p", "no:mia-mnist-data", "--list-plugins").output
    assert ("mia-mnist-data (mia-mnist-data 0.1.0)  NOT LOADED: blocked (-p "
            "no:mia-mnist-data); provided last time: dataset:mnist") in listing


def test_enable_and_block_same_plugin_is_an_error():
    line = one_line(invoke("-p", "mia-cnn-target", "-p", "no:mia-cnn-target", "--list-plugins"), 2)
    assert line == "Error: plugin 'mia-cnn-target' is both enabled and blocked with -p"


def test_p_loads_an_importable_module(tmp_path, monkeypatch):
    (tmp_path / "my_local_plugin.py").write_text(
        "from mia_core import hookimpl\n\n"
        "class A:\n    threat_model = 'known-members'\n"
        "    def score(self, ctx):\n        return ctx.evaluation.y.double()\n\n"
        "@hookimpl\ndef register_attacks(register):\n    register('label-score', A)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = invoke("-p", "my_local_plugin", "--list-plugins")
    assert "my_local_plugin ((module) -)  hooks: register_attacks; provides: " \
           "attack:label-score" in result.output


def test_p_with_unknown_name_is_broken_and_strict_makes_it_fatal():
    listing = invoke("-p", "no_such_plugin_xyz", "--list-plugins").output
    assert listing.startswith("warning: -p no_such_plugin_xyz loaded nothing (no such plugin "
                              "entry point, and importing it as a module failed: "
                              "ModuleNotFoundError: No module named 'no_such_plugin_xyz'); "
                              "installed plugins: ")
    assert "mnist" in listing.splitlines()[0]  # the known plugins are named
    assert "no_such_plugin_xyz ((module) -)  BROKEN: -p no_such_plugin_xyz: no such plugin " \
           "entry point, and importing it as a module failed: ModuleNotFoundError" in listing
    line = one_line(invoke("-p", "no_such_plugin_xyz", "--strict-plugins", "--list-plugins"), 1)
    assert line.startswith("Error: plugin 'no_such_plugin_xyz' ((module) -) failed to load: -p "
                           "no_such_plugin_xyz: no such plugin entry point")


WRONG_KIND = """
from mia_core import hookimpl

class NotAnAttack:
    def predict(self, x):
        return x

@hookimpl
def register_attacks(register):
    register("not-an-attack", NotAnAttack)
"""

RAISES = """
from mia_core import hookimpl

@hookimpl
def register_targets(register):
    raise KeyError("weights_url")
"""

BAD_OPTIONS = """
import attrs
from mia_core import hookimpl

@attrs.frozen
class Opts:
    layers: list = attrs.field(factory=list)

class T:
    def fit(self, data, env):
        pass

@hookimpl
def register_targets(register):
    register("bad-opts", T, options=Opts)
"""


@pytest.mark.parametrize(("source", "error"), [
    (WRONG_KIND, "plugin 'evil' registered attack 'not-an-attack' with class NotAnAttack, "
                 "which has no score() method (a attack needs one)"),
    (RAISES, "hook register_targets raised KeyError: 'weights_url'"),
    (BAD_OPTIONS, "plugin 'evil' registered target 'bad-opts' with bad options: option "
                  "'layers' of Opts has unsupported type list (use int, float, bool or str)"),
])
def test_bad_plugins_are_named_and_strict_fails(fake_entry_points, source, error):
    good = make_module("good_for_strict", "from mia_core import hookimpl\n"
                       "@hookimpl\ndef register_datasets(register):\n    pass\n")
    fake_entry_points(FakeEntryPoint("evil", make_module("evil_plugin", source),
                                     FakeDist("mia-evil", "6.6.6")),
                      FakeEntryPoint("good", good, FakeDist("mia-good", "1.0")))
    listing = invoke("--list-plugins").output
    assert f"evil (mia-evil 6.6.6)  BROKEN: {error}" in listing
    assert "good (mia-good 1.0)  hooks: register_datasets" in listing
    line = one_line(invoke("--strict-plugins", "--list-plugins"), 1)
    assert line == f"Error: plugin 'evil' (mia-evil 6.6.6) failed to load: {error}"


def test_describe_shows_typed_options():
    result = invoke("--describe", "cnn")
    assert result.exit_code == 0
    assert "target 'cnn': LeNet CNN" in result.output
    assert "    epochs (int, default 30)  training epochs" in result.output
    assert "    precision (str, default 'auto', one of auto|fp32|bf16)" in result.output
    assert ("  its models answer with logits over classes, which give confidence, labels, "
            "log_likelihood, logits") in result.output
    reads = invoke("--describe", "min-k-plus-plus").output
    assert "  reads the target's token_zscores (mia_core.SIGNALS)" in reads
    line = one_line(invoke("--describe", "lirq"), 2)
    assert line == ("Error: no dataset, target, attack, reporter or executor called 'lirq'; did "
                    "you mean 'lira' or 'zlib'? (see mia-run --list-plugins)")


def test_usage_errors_are_one_line():
    assert one_line(invoke("--bogus"), 2) == "Error: No such option '--bogus'."
    assert one_line(invoke("--seed", "x"), 2) == (
        "Error: Invalid value for '--seed': 'x' is not a valid integer.")


def test_selection_reads_the_environment_it_is_given(monkeypatch):
    from mia_core.catalog.selection import PluginSelection

    monkeypatch.setenv("MIA_PLUGINS", "from-os")
    given = PluginSelection.from_sources([], environ={"MIA_PLUGINS": "a, b"})
    assert given.only == frozenset({"a", "b"}) and given.autoload
    assert PluginSelection.from_sources([]).only == frozenset({"from-os"})
    off = PluginSelection.from_sources(["x", "no:y"], environ={
        "MIA_DISABLE_PLUGIN_AUTOLOAD": "yes"})
    assert (off.autoload, off.enable, off.block) == (False, ("x",), frozenset({"y"}))


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " On "])
def test_every_spelling_turns_autoload_off(value):
    from mia_core.catalog.selection import PluginSelection

    assert not PluginSelection.from_sources([], environ={
        "MIA_DISABLE_PLUGIN_AUTOLOAD": value}).autoload
    assert PluginSelection.from_sources([], environ={
        "MIA_DISABLE_PLUGIN_AUTOLOAD": "0"}).autoload
