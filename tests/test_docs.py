"""The plugin author guide: complete, and its examples are the real, working packages."""

import json
import re
from importlib import metadata

from click.testing import CliRunner

from mia_core import hookspecs
from mia_core.cli.mia_run import run

from .conftest import ROOT, loss_attack_module

GUIDE = ROOT / "docs" / "plugins.md"


def hook_names():
    return sorted(n for n in dir(hookspecs) if n.startswith("register_"))


def test_every_hook_is_documented():
    text = GUIDE.read_text()
    assert hook_names() == ["register_attacks", "register_commands", "register_datasets",
                            "register_executors", "register_reporters", "register_targets"]
    for name in hook_names():
        assert f"### {name}\n" in text, f"docs/plugins.md lacks a section for {name}"


def test_readme_links_the_guide():
    assert "docs/plugins.md" in (ROOT / "README.md").read_text()


def test_guide_shows_the_example_files_verbatim():
    text = GUIDE.read_text()
    blocks = re.findall(r"<!-- example: (\S+) -->\n```\w+\n(.*?)```\n", text, re.S)
    assert len(blocks) == 8
    for path, code in blocks:
        assert (ROOT / path).read_text() == code, f"docs/plugins.md is out of date for {path}"


def test_examples_are_installed_and_listed():
    eps = {ep.name: ep for ep in metadata.entry_points(group="mia_core")}
    for name, dist in (("tiny_gaussians", "mia-tiny-gaussians"), ("tiny_mlp", "mia-tiny-mlp"),
                       ("max_confidence", "mia-max-confidence"),
                       ("reference_zscore", "mia-reference-zscore")):
        assert eps[name].dist.name == dist
    listing = json.loads(CliRunner().invoke(run, ["--list-plugins", "--json"]).output)
    names = {(k, c["name"]) for k in ("datasets", "targets", "attacks") for c in listing[k]}
    assert {("datasets", "tiny-gaussians"), ("targets", "tiny-mlp"),
            ("attacks", "max-confidence")} <= names


def test_examples_run_together_as_the_guide_shows():
    result = CliRunner().invoke(run, ["--dataset", "tiny-gaussians", "--target", "tiny-mlp",
                                      "--attack", "max-confidence", "--attack",
                                      "reference-zscore", "--members", "1000",
                                      "--reference-models", "4", "--json", "--quiet",
                                      "--no-cache"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["versions"]["mia-tiny-mlp"] == "1.0.0"
    assert data["versions"]["mia-reference-zscore"] == "1.0.0"
    assert data["attacks"][0]["metrics"]["threshold_source"] == "attack"
    assert data["split_sizes"]["population"] == 1000


def test_population_example_separates_members_of_an_overfit_target():
    import mia_reference_zscore

    from mia_core.testing import run as run_in_process

    def auc(control):
        result = run_in_process(mia_reference_zscore, dataset="tiny-images",
                                attacks=["reference-zscore"], members=150,
                                reference_models=4, control=control,
                                options={"target": {"epochs": 15, "batch_size": 32},
                                         "dataset": {"noise": 3.0}})
        return result.attack("reference-zscore").metrics.auc

    assert auc(control=False) > 0.65
    assert abs(auc(control=True) - 0.5) < 0.12


def test_the_guides_testing_example_runs(monkeypatch):
    text = GUIDE.read_text().split("## Testing a plugin", 1)[1]
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    plugin = loss_attack_module("my_attack_plugin", "my-attack")
    namespace = {}
    exec(compile(code, "docs/plugins.md", "exec"), namespace)
    assert namespace["my_attack_plugin"] is plugin
    namespace["test_my_attack_beats_chance_on_an_overfit_target"]()
    namespace["test_my_attack_is_at_chance_when_the_target_never_saw_the_members"]()
