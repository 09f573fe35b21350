"""The trained-model cache: hits on rerun, identical results, damaged entries retrained."""

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mia_core.cli.mia_run import run
from mia_core.training.cache import FORMAT, ModelCache, cache_key, default_cache_dir

ARGS = ["--dataset", "blobs", "--attack", "lira", "--attack", "loss-threshold",
        "--members", "200", "--reference-models", "2", "-o", "target.epochs=3", "--json"]


def invoke(cache_dir, *extra):
    result = CliRunner().invoke(run, [*ARGS, "--cache-dir", str(cache_dir), *extra])
    assert result.exit_code == 0, result.output
    return result


def test_rerun_loads_every_model_and_gives_identical_metrics(tmp_path):
    first = json.loads(invoke(tmp_path, "--quiet").output)
    assert (first["models_trained"], first["models_from_cache"]) == (3, 0)
    assert len(list(tmp_path.glob("*.pt"))) == 3
    second = json.loads(invoke(tmp_path, "--quiet").output)
    assert (second["models_trained"], second["models_from_cache"]) == (0, 3)
    # the reference models' logits were cached beside them: the rerun queries none
    assert (first["reference_queries"], second["reference_queries"]) == (2, 0)
    assert first["attacks"] == [{**a, "seconds": b["seconds"]} for a, b in
                                zip(second["attacks"], first["attacks"], strict=True)]
    assert second["target_test_accuracy"] == first["target_test_accuracy"]


def test_other_seed_or_options_miss_the_cache(tmp_path):
    invoke(tmp_path, "--quiet")
    other = json.loads(invoke(tmp_path, "--quiet", "--seed", "1").output)
    assert other["models_from_cache"] == 0
    more_epochs = json.loads(invoke(tmp_path, "--quiet", "-o", "target.lr=0.002").output)
    assert more_epochs["models_from_cache"] == 0


def test_damaged_entry_is_reported_and_retrained(tmp_path):
    invoke(tmp_path, "--quiet")
    for entry in tmp_path.glob("*.pt"):
        entry.write_bytes(entry.read_bytes()[:100])
    result = CliRunner().invoke(run, [*ARGS, "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert result.output.count("is damaged (") == 3
    assert "Traceback" not in result.output


def test_cache_key_depends_on_record_indices():
    a = cache_key({"records": torch.tensor([1, 2, 3])})
    assert a == cache_key({"records": torch.tensor([1, 2, 3])})
    assert a != cache_key({"records": torch.tensor([1, 2, 4])})


def test_unwritable_cache_folder_only_warns(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    messages = []

    class Recorder:
        def message(self, text):
            messages.append(text)

    cache = ModelCache(blocker / "sub", Recorder())
    model = cache.fit({"k": 1}, lambda: torch.nn.Linear(2, 2), lambda: torch.nn.Linear(2, 2),
                      torch.device("cpu"))
    assert isinstance(model, torch.nn.Linear)
    assert messages and messages[0].startswith("warning: cannot write model cache")
    assert "(Not a directory)" in messages[0] or "(File exists)" in messages[0]


@pytest.mark.parametrize("bad", [b"", b"\x80\x02not a zip"])
def test_garbage_entry_is_damaged_not_fatal(tmp_path, bad):
    cache = ModelCache(tmp_path)
    key_parts = {"x": 1}
    (tmp_path / f"{cache_key({'format': 1, **key_parts})}.pt").write_bytes(bad)
    model = cache.fit(key_parts, lambda: torch.nn.Linear(2, 2), lambda: torch.nn.Linear(2, 2),
                      torch.device("cpu"))
    assert isinstance(model, torch.nn.Linear) and cache.trained == 1 and cache.hits == 0


def test_cache_key_is_order_independent_and_covers_every_value():
    key = cache_key({"a": 1, "b": [1, 2], "p": Path("/x")})
    assert key == cache_key({"p": Path("/x"), "b": [1, 2], "a": 1})
    assert len(key) == 32 and int(key, 16) >= 0
    assert key != cache_key({"a": 1, "b": [1, 2], "p": Path("/y")})  # non-JSON values too
    t = torch.arange(6)
    assert cache_key({"t": t}) != cache_key({"t": t.reshape(2, 3)})  # shape is part of it
    assert cache_key({"t": t}) != cache_key({"t": t.double()})  # and the dtype


def test_default_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("MIA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "mia-core" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "mia-core" / "models"
    monkeypatch.setenv("MIA_CACHE_DIR", "~/elsewhere")
    assert default_cache_dir() == tmp_path / "home" / "elsewhere"


def conv_model():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())


@pytest.mark.parametrize("channels_last", [False, True])
def test_cached_model_keeps_the_memory_format_it_was_trained_in(tmp_path, channels_last):
    def train():
        model = conv_model()
        return model.to(memory_format=torch.channels_last) if channels_last else model

    root = tmp_path / "a" / "b"  # folders that do not exist yet
    trained = ModelCache(root).fit({"k": 1}, conv_model, train, torch.device("cpu"))
    loaded_cache = ModelCache(root)
    loaded = loaded_cache.fit({"k": 1}, conv_model, train, torch.device("cpu"))
    assert loaded_cache.hits == 1 and not loaded.training
    weight = loaded[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) is channels_last
    assert weight.is_contiguous() is not channels_last
    assert torch.equal(weight, trained[0].weight)


def test_damaged_entry_message_names_the_problem(tmp_path):
    messages = []
    recorder = type("Recorder", (), {"message": lambda self, text: messages.append(text)})()
    (tmp_path / f"{cache_key({'format': FORMAT, 'x': 1})}.pt").write_bytes(b"garbage")
    ModelCache(tmp_path, recorder).fit({"x": 1}, lambda: torch.nn.Linear(2, 2),
                                       lambda: torch.nn.Linear(2, 2), torch.device("cpu"))
    assert len(messages) == 1 and "is damaged (" in messages[0]
    assert "(NoneType)" not in messages[0] and messages[0].endswith("); retraining")


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch, failure):
    def half_save(obj, path):
        Path(path).write_bytes(b"half a state dict")
        raise failure

    monkeypatch.setattr("mia_core.training.cache.torch.save", half_save)
    cache = ModelCache(tmp_path)
    fit = lambda: cache.fit({"k": 2}, lambda: torch.nn.Linear(2, 2),  # noqa: E731
                            lambda: torch.nn.Linear(2, 2), torch.device("cpu"))
    if isinstance(failure, OSError):
        assert isinstance(fit(), torch.nn.Linear)  # caching is skipped, the run goes on
    else:
        with pytest.raises(KeyboardInterrupt):
            fit()
    assert list(tmp_path.iterdir()) == []


def test_a_new_version_of_the_target_plugin_misses_the_cache(tmp_path, monkeypatch):
    """The target plugin's distribution and version are part of every model's key: after an
    upgrade (its training code may have changed), no stale model is loaded."""
    from mia_core.catalog import loading

    first = json.loads(invoke(tmp_path, "--quiet").output)
    assert "mia-cnn-target" in first["versions"]
    real = loading.Origin

    def upgraded(plugin, distribution="?", version="?"):
        bumped = version + ".post1" if distribution == "mia-cnn-target" else version
        return real(plugin, distribution, bumped)

    monkeypatch.setattr(loading, "Origin", upgraded)
    second = json.loads(invoke(tmp_path, "--quiet").output)
    assert second["versions"]["mia-cnn-target"].endswith(".post1")
    assert (second["models_trained"], second["models_from_cache"]) == (3, 0)
    monkeypatch.setattr(loading, "Origin", real)
    third = json.loads(invoke(tmp_path, "--quiet").output)  # the old version: its models
    assert (third["models_trained"], third["models_from_cache"]) == (0, 3)
