"""The step format: precision=auto measures the candidates once per machine and model shape,
keeps the fastest in a file every later training reads, and the run says what it used."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from mia_core import LabeledData, TrainEnv, TrainRecipe, fit_classifier
from mia_core.training import formats
from mia_core.training.formats import StepFormat, choose_format, formats_file, measure

CPU = torch.device("cpu")


def small_images(n=64):
    g = torch.Generator().manual_seed(0)
    return LabeledData(torch.randn(n, 1, 12, 12, generator=g), torch.randint(0, 3, (n,),
                                                                           generator=g), 3)


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(400, 3))


RECIPE = TrainRecipe(epochs=1, batch_size=32, lr=1e-3)


def test_off_and_fixed_precisions_never_measure(monkeypatch):
    monkeypatch.setattr(formats, "measure", lambda *a: pytest.fail("measured"))
    data = small_images()
    monkeypatch.setenv("MIA_FORMATS", "off")
    assert formats_file() is None
    flagged = choose_format(small_model(), data.x, data.y, RECIPE, CPU)
    assert flagged.how == "cpu flags" and flagged.channels_last
    assert flagged.precision == ("bf16" if formats.resolve_precision("auto", CPU) else "fp32")
    fixed = TrainRecipe(epochs=1, batch_size=32, lr=1e-3, precision="fp32",
                        channels_last=False)
    assert choose_format(small_model(), data.x, data.y, fixed, CPU) == StepFormat(
        "fp32", False, "asked")


def test_the_first_training_measures_and_every_later_one_reads_the_choice(tmp_path,
                                                                          monkeypatch):
    store = tmp_path / "formats.json"
    monkeypatch.setenv("MIA_FORMATS", str(store))
    data = small_images()
    calls = []
    real = formats.measure

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(formats, "measure", counting)
    first = choose_format(small_model(), data.x, data.y, RECIPE, CPU)
    assert first.how == "measured" and len(calls) == 1
    assert set(first.images_per_s) == {"fp32", "fp32+channels-last", "bf16",
                                       "bf16+channels-last"}
    best = max(first.images_per_s, key=first.images_per_s.get)
    assert first.name == best  # the fastest candidate is the one chosen
    again = choose_format(small_model(), data.x, data.y, RECIPE, CPU)
    assert (again.precision, again.channels_last, again.how) == (
        first.precision, first.channels_last, "stored") and len(calls) == 1
    wider = TrainRecipe(epochs=1, batch_size=16, lr=1e-3)  # another shape: measured anew
    choose_format(small_model(), data.x, data.y, wider, CPU)
    assert len(calls) == 2 and len(json.loads(store.read_text())) == 2


def test_measuring_leaves_the_model_and_the_global_rng_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_FORMATS", str(tmp_path / "f.json"))
    data, model = small_images(), small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    measure(nn.Sequential(nn.Dropout(0.5), model), data.x, data.y, RECIPE, CPU, (True, False))
    assert torch.equal(torch.rand(3), expected)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_training_with_a_stored_choice_is_bit_identical_to_asking_for_it(tmp_path,
                                                                        monkeypatch):
    store = tmp_path / "f.json"
    monkeypatch.setenv("MIA_FORMATS", str(store))
    data = small_images()
    chosen = choose_format(small_model(), data.x, data.y, RECIPE, CPU)
    auto = fit_classifier(small_model(), data, RECIPE, TrainEnv(CPU, 3))
    asked = fit_classifier(small_model(), data, TrainRecipe(
        epochs=1, batch_size=32, lr=1e-3, precision=chosen.precision,
        channels_last=chosen.channels_last), TrainEnv(CPU, 3))
    other = fit_classifier(small_model(), data, TrainRecipe(
        epochs=1, batch_size=32, lr=1e-3, precision="fp32" if chosen.precision == "bf16"
        else "bf16"), TrainEnv(CPU, 3))
    for a, b in zip(auto.state_dict().values(), asked.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, c) for a, c in zip(auto.state_dict().values(),
                                                     other.state_dict().values(), strict=True))


def test_the_run_records_its_format_and_describe_shows_the_machines_choices(tmp_path,
                                                                           monkeypatch):
    from click.testing import CliRunner

    from mia_core.cli.mia_run import run as cli_run
    from mia_core.testing import run

    monkeypatch.setenv("MIA_FORMATS", str(tmp_path / "f.json"))
    result = run(dataset="tiny-images", attacks=["loss-threshold"], members=50,
                 options={"target": {"epochs": 1}})
    step = result.step_format
    assert step.how == "measured" and step.name in step.images_per_s
    assert result.to_dict()["step_format"]["precision"] == step.precision
    shown = CliRunner().invoke(cli_run, ["--describe", "cnn"]).output
    assert "auto on this machine, LeNet " in shown and f": {step.name} (images/s" in shown
    again = run(dataset="tiny-images", attacks=["loss-threshold"], members=50,
                options={"target": {"epochs": 1}})
    assert again.step_format.how == "stored" and again.step_format.name == step.name


class Log(list):
    """A list that copies of a model share (measuring times deep copies)."""

    def __deepcopy__(self, memo):
        return self


class Counting(nn.Module):
    """A small model that notes the batch size of every forward pass and can take a set
    time per record (its speed then never exceeds 1 / per_record images per second)."""

    def __init__(self, per_record: float = 0.0):
        super().__init__()
        torch.manual_seed(0)
        self.inner = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
        self.per_record, self.batches = per_record, Log()

    def forward(self, x):
        self.batches.append(len(x))
        if self.per_record:
            __import__("time").sleep(self.per_record * len(x))
        return self.inner(x)


def test_measuring_is_bounded_whatever_the_recipe_batch_size(monkeypatch):
    """A recipe batch larger than the records (or than any sensible step) is timed on a
    bounded batch: the first step on a few records, then at most MAX_RECORDS per step, and
    few enough for a step of about MAX_STEP seconds on a slow model."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30_000, 1, 4, 4, generator=g), torch.randint(0, 3, (30_000,), generator=g)
    huge = TrainRecipe(epochs=1, batch_size=100_000, lr=1e-3)
    model = Counting()
    chosen = measure(model, x, y, huge, CPU, (True, False))
    assert model.batches[0] == formats.PROBE
    assert max(model.batches) == formats.MAX_RECORDS  # never the 30,000 records
    assert len(chosen.images_per_s) == 4
    monkeypatch.setattr(formats, "MAX_STEP", 0.05)
    slow = Counting(per_record=0.001)  # at most 1,000 images/s: 50 records fill 0.05 s
    measure(slow, x, y, huge, CPU, (False,))
    assert max(slow.batches[1:]) <= 50 and slow.batches[0] == formats.PROBE


def test_past_the_deadline_the_candidates_not_yet_timed_are_left_out(monkeypatch):
    monkeypatch.setattr(formats, "DEADLINE", 0.0)
    data = small_images()
    chosen = measure(small_model(), data.x, data.y, RECIPE, CPU, (True, False))
    assert list(chosen.images_per_s) == ["fp32+channels-last"]  # the first is always timed
    assert (chosen.precision, chosen.channels_last) == ("fp32", True)
