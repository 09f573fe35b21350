"""Names plugin authors were told to use keep working for one release, with a
``DeprecationWarning`` naming the replacement (pytest's policy); CHANGELOG.md says so."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, loss_attack_module


def test_the_cli_command_of_the_28_november_docs_still_runs_with_a_warning():
    import mia_core.cli

    with pytest.warns(DeprecationWarning, match=r"^mia_core\.cli\.run is deprecated since "
                      r"mia-core 0\.2\.0 and goes in 0\.3\.0: use mia_core\.cli\.mia_run\.run"):
        command = mia_core.cli.run
    from mia_core.cli.mia_run import run

    assert command is run
    result = CliRunner().invoke(command, ["--dataset", "blobs", "--attack", "loss-threshold",
                                          "--members", "100", "-o", "target.epochs=1", "-q",
                                          "--no-cache", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["attacks"][0]["name"] == "loss-threshold"
    with pytest.raises(AttributeError, match="has no attribute 'runn'"):
        mia_core.cli.runn  # noqa: B018


def test_load_catalog_with_extra_modules_still_works_with_a_warning():
    from mia_core import plugins

    module = loss_attack_module("mia_deprecated_loader", "low-loss-old")
    with pytest.warns(DeprecationWarning, match=r"use mia_core\.catalog\.loading\.load_catalog "
                      r"\(same arguments\)"):
        catalog = plugins.load_catalog(extra=[("old-style", module)])
    assert catalog.get("attack", "low-loss-old").origin.plugin == "old-style"
    assert catalog.get("dataset", "mnist").name == "mnist"  # the installed ones too


def test_the_changelog_names_every_deprecated_name_and_the_current_version():
    from importlib import metadata

    text = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {metadata.version('mia-core')}" in text
    for name in ("mia_core.cli.run", "mia_core.plugins.load_catalog"):
        assert f"`{name}`" in text
