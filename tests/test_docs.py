"""The plugin author guide: complete, and its examples are the real, working packages."""

import json
import re
from importlib import metadata

from click.testing import CliRunner

from mia_core import hookspecs
from mia_core.cli import run

from .conftest import ROOT

GUIDE = ROOT / "docs" / "plugins.md"


def hook_names():
    return sorted(n for n in dir(hookspecs) if n.startswith("register_"))


def test_every_hook_is_documented():
    text = GUIDE.read_text()
    assert hook_names() == ["register_attacks", "register_datasets", "register_reporters",
                            "register_targets"]
    for name in hook_names():
        assert f"### {name}\n" in text, f"docs/plugins.md lacks a section for {name}"


def test_readme_links_the_guide():
    assert "docs/plugins.md" in (ROOT / "README.md").read_text()


def test_guide_shows_the_example_files_verbatim():
    text = GUIDE.read_text()
    blocks = re.findall(r"<!-- example: (\S+) -->\n```\w+\n(.*?)```\n", text, re.S)
    assert len(blocks) == 6
    for path, code in blocks:
        assert (ROOT / path).read_text() == code, f"docs/plugins.md is out of date for {path}"


def test_examples_are_installed_and_listed():
    eps = {ep.name: ep for ep in metadata.entry_points(group="mia_core")}
    for name, dist in (("tiny_gaussians", "mia-tiny-gaussians"), ("tiny_mlp", "mia-tiny-mlp"),
                       ("max_confidence", "mia-max-confidence")):
        assert eps[name].dist.name == dist
    listing = json.loads(CliRunner().invoke(run, ["--list-plugins", "--json"]).output)
    names = {(k, c["name"]) for k in ("datasets", "targets", "attacks") for c in listing[k]}
    assert {("datasets", "tiny-gaussians"), ("targets", "tiny-mlp"),
            ("attacks", "max-confidence")} <= names


def test_examples_run_together_as_the_guide_shows():
    result = CliRunner().invoke(run, ["--dataset", "tiny-gaussians", "--target", "tiny-mlp",
                                      "--attack", "max-confidence", "--members", "1000",
                                      "--json", "--quiet", "--no-cache"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["versions"]["mia-tiny-mlp"] == "1.0.0"
    assert data["attacks"][0]["metrics"]["threshold_source"] == "attack"
