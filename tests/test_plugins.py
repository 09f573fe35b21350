"""Plugin loading through (fake) entry points: isolation, validation, duplicates."""

import json

import pytest
from click.testing import CliRunner

from mia_core.catalog.loading import load_catalog
from mia_core.cli.mia_run import run
from mia_core.errors import ConfigError, PluginError

from .conftest import FakeDist, FakeEntryPoint, make_module

GOOD = """
from mia_core import hookimpl

class Coin:
    threat_model = "known-members"
    def score(self, ctx):
        import torch
        return torch.zeros(len(ctx.evaluation))

@hookimpl
def register_attacks(register):
    register("good-attack", Coin, description="A fine attack.")
"""

MISSPELT = """
from mia_core import hookimpl

@hookimpl
def register_attack(register):
    register("never", object)
"""

RAISES = """
from mia_core import hookimpl

@hookimpl
def register_datasets(register):
    raise RuntimeError("cannot find my data")
"""

BAD_ARGS = """
from mia_core import hookimpl

@hookimpl
def register_targets(register, extra):
    pass
"""

DUPLICATE = """
from mia_core import hookimpl

class Other:
    threat_model = "known-members"
    def score(self, ctx):
        return None

@hookimpl
def register_attacks(register):
    register("good-attack", Other, description="Same name, other package.")
"""


def plugins_of(catalog):
    """The plugins a test installed (the core's own default plugins are always there too)."""
    return [p for p in catalog.plugins if p.distribution != "mia-core"]


def ep(name, source=None, dist="mia-" + "x", version="1.0", error=None):
    module = make_module(f"fake_{name}", source) if source else None
    return FakeEntryPoint(name, module, FakeDist(dist, version), error=error)


def test_good_plugin_registers_with_its_distribution(fake_entry_points):
    fake_entry_points(ep("good", GOOD, "mia-good", "1.2"))
    catalog = load_catalog()
    entry = catalog.get("attack", "good-attack")
    assert (entry.origin.plugin, entry.origin.distribution, entry.origin.version) == (
        "good", "mia-good", "1.2")
    assert plugins_of(catalog)[0].hooks == ("register_attacks",)


def test_broken_import_is_reported_and_others_still_load(fake_entry_points):
    fake_entry_points(ep("boom", error=ImportError("No module named 'tensorflow'")),
                      ep("good", GOOD))
    catalog = load_catalog()
    broken = {p.name: p.error for p in catalog.plugins}
    assert broken["boom"] == ("import of 'fake.module' failed: ImportError: No module named "
                              "'tensorflow'")
    assert broken["good"] is None
    assert catalog.get("attack", "good-attack")


def test_misspelt_hook_is_caught_at_registration(fake_entry_points):
    fake_entry_points(ep("typo", MISSPELT), ep("good", GOOD))
    catalog = load_catalog()
    typo = next(p for p in catalog.plugins if p.name == "typo")
    assert "unknown hook 'register_attack'" in typo.error
    assert catalog.get("attack", "good-attack")


def test_hook_with_wrong_arguments_is_rejected(fake_entry_points):
    fake_entry_points(ep("args", BAD_ARGS))
    (info,) = plugins_of(load_catalog())
    assert info.error.startswith("invalid plugin: PluginValidationError")


def test_raising_hook_names_the_plugin(fake_entry_points):
    fake_entry_points(ep("raiser", RAISES))
    (info,) = plugins_of(load_catalog())
    assert info.error == "hook register_datasets raised RuntimeError: cannot find my data"


def test_a_shared_component_name_is_chosen_by_its_qualified_name(fake_entry_points):
    """Two plugins register attack 'good-attack': the bare name is a usage error naming
    both and the qualified names; DISTRIBUTION:NAME (or PLUGIN:NAME) picks one, nothing is
    uninstalled, and the listing shows both qualified."""
    fake_entry_points(ep("good", GOOD, "mia-good", "1.0"),
                      ep("dup", DUPLICATE, "mia-other", "3.0"))
    catalog = load_catalog()
    with pytest.raises(ConfigError) as err:
        catalog.get("attack", "good-attack")
    assert str(err.value) == (
        "attack 'good-attack' is provided by 2 plugins: plugin 'good' (mia-good 1.0) and "
        "plugin 'dup' (mia-other 3.0); choose one by its qualified name: "
        "mia-good:good-attack or mia-other:good-attack")
    assert catalog.get("attack", "mia-other:good-attack").origin.plugin == "dup"
    assert catalog.get("attack", "good:good-attack").origin.plugin == "good"
    with pytest.raises(ConfigError, match="no attack 'good-attack' comes from 'mia-third'; it "
                       "comes from mia-good:good-attack, mia-other:good-attack"):
        catalog.get("attack", "mia-third:good-attack")
    listing = CliRunner().invoke(run, ["--list-plugins"]).output
    assert "mia-good:good-attack " in listing and "mia-other:good-attack " in listing
    assert "SHARED NAME: attack 'good-attack' is provided by 2 plugins" in listing


def test_two_distributions_with_one_plugin_name_both_load(fake_entry_points):
    """A plugin name (entry-point name) chosen by two distributions: both load, the second
    under DISTRIBUTION:NAME, and one warning line names both (never pluggy's raw error)."""
    fake_entry_points(ep("mlp", GOOD, "mia-a", "1.0"), ep("mlp", DUPLICATE, "mia-b", "2.0"))
    catalog = load_catalog()
    assert {p.name: p.state for p in catalog.plugins if "mlp" in p.name} == {
        "mlp": "ok", "mia-b:mlp": "ok"}
    assert catalog.warnings == ["warning: plugin name 'mlp' is used by mia-a 1.0 and by "
                                "mia-b 2.0; the second is listed as 'mia-b:mlp' (-p no:mlp "
                                "blocks both)"]


def test_cli_help_and_listing_survive_a_broken_plugin(fake_entry_points):
    fake_entry_points(ep("boom", error=SyntaxError("invalid syntax")), ep("good", GOOD))
    runner = CliRunner()
    assert runner.invoke(run, ["--help"]).exit_code == 0
    listing = runner.invoke(run, ["--list-plugins"])
    assert listing.exit_code == 0
    assert "boom (mia-x 1.0)  BROKEN: import of 'fake.module' failed: SyntaxError" in (
        listing.output)
    assert "good-attack" in listing.output
    data = json.loads(runner.invoke(run, ["--list-plugins", "--json"]).output)
    states = {p["name"]: p["state"] for p in data["plugins"]}
    assert states == {"boom": "broken", "good": "ok", "json_reporter": "ok",
                      "local_executor": "ok", "python_target": "ok", "tensor_file": "ok",
                      "torchscript_target": "ok"}
    assert data["attacks"][0]["name"] == "good-attack"


def test_unknown_name_mentions_broken_plugins(fake_entry_points):
    fake_entry_points(ep("boom", error=ImportError("nope")), ep("good", GOOD))
    result = CliRunner().invoke(run, ["--dataset", "mnist", "--attack", "good-attack"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: unknown dataset 'mnist' (available: tensors; see mia-run "
        "--list-plugins); broken plugins: boom; a dataset of your own that is not installed "
        "loads with -p MODULE (a module Python can import: run from its folder with "
        "PYTHONPATH=.)")


def test_plugins_are_not_loaded_at_import_time():
    import subprocess
    import sys

    code = ("import sys, mia_core, mia_core.cli; "
            "print(any(m.startswith('mia_mnist_data') or m.startswith('mia_torch_attack') "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


FACTORY_FUNCTION = """
from mia_core import hookimpl

class Sneaky:
    threat_model = "telepathy"
    def score(self, ctx):
        return None

@hookimpl
def register_attacks(register):
    register("sneaky", lambda: Sneaky())  # a function: checked when built, not registered
"""


def test_built_objects_are_checked_like_registered_classes():
    from mia_core.config import ExperimentConfig
    from mia_core.experiment.plan import make_plan

    catalog = load_catalog(extra=[("sneaky", make_module("fake_sneaky", FACTORY_FUNCTION))])
    config = ExperimentConfig(dataset="blobs", target="cnn", attacks=("sneaky",))
    with pytest.raises(PluginError) as err:
        make_plan(config, catalog)
    assert str(err.value) == ("attack 'sneaky' (plugin 'sneaky') declares unknown threat model "
                              "'telepathy'; use one of known-members, population, label-only")


PARTLY_RAISES = """
import torch
from mia_core import hookimpl

class Blank:
    def load(self, env):
        return None

class Coin:
    threat_model = "known-members"
    def score(self, ctx):
        return torch.zeros(len(ctx.evaluation))

@hookimpl
def register_datasets(register):
    register("half-dataset", Blank)

@hookimpl
def register_attacks(register):
    register("half-attack", Coin)
    raise RuntimeError("late failure")
"""


def test_plugin_whose_hook_raises_registers_nothing_at_all(fake_entry_points):
    fake_entry_points(ep("half", PARTLY_RAISES), ep("good", GOOD))
    catalog = load_catalog()
    info = next(p for p in catalog.plugins if p.name == "half")
    assert info.error == "hook register_attacks raised RuntimeError: late failure"
    assert info.provides == ()
    names = {e.name for kind in ("dataset", "attack") for e in catalog.entries(kind)}
    assert "half-dataset" not in names and "half-attack" not in names  # rolled back
    assert "good-attack" in names

