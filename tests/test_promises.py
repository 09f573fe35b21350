"""What the README promises, each with a test that fails when the promise is broken.

The experiments use an in-process plugin whose records carry their own id (input column 0), a
target that records which ids each training run received, and spy attacks that keep the context
they were given, so the tests check what really happened, not what the core says happened.
"""

import json
import re

import pytest
import torch
from click.testing import CliRunner

from mia_core.catalog.loading import load_catalog
from mia_core.cli.mia_run import run
from mia_core.config import ExperimentConfig
from mia_core.experiment.models import ModelFactory, model_key_parts
from mia_core.experiment.plan import make_plan
from mia_core.experiment.run import run_experiment
from mia_core.progress import QUIET, Progress
from mia_core.training.cache import FORMAT, ModelCache, cache_key

from .conftest import make_module

SPIES = """
import attrs
import torch
from torch import nn
from mia_core import (LabeledData, ThreatModel, TrainRecipe, fit_classifier, hookimpl, option,
                      positive)

RECORDS = {"x": None}
FITS = []      # ids of the records each fit() received, in call order
SEEDS = []     # the seed each fit() received
STOP = {"at": 0}  # raise KeyboardInterrupt in this fit() call (1-based; 0: never)
CONTEXTS = {}  # attack name -> the AttackContext it was given

def records(size):
    if RECORDS["x"] is None or len(RECORDS["x"]) != size:
        g = torch.Generator().manual_seed(5)
        y = torch.randint(0, 2, (size,), generator=g)
        feats = y[:, None].float() * 2 + torch.randn(size, 3, generator=g)
        RECORDS["x"] = torch.cat([torch.arange(size, dtype=torch.float32)[:, None], feats], 1)
        RECORDS["y"] = y
    return RECORDS["x"].clone(), RECORDS["y"].clone()

@attrs.frozen
class IdOptions:
    size: int = option(600, "records", positive)

class IdRecords:
    def __init__(self, options):
        self.options = options
    def load(self, env):
        x, y = records(self.options.size)
        return LabeledData(x, y, 2)

class Skip(nn.Module):
    # ignores the id column
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
    def forward(self, x):
        return self.fc(x[:, 1:])

class Memorizer(nn.Module):
    # a perfectly overfit model: logit 10 for class 0 on the records it trained on, else 0
    def __init__(self, ids, size):
        super().__init__()
        seen = torch.zeros(size, dtype=torch.bool)
        seen[ids] = True
        self.register_buffer("seen", seen)
    def forward(self, x):
        hit = self.seen[x[:, 0].long()].float() * 10
        return torch.stack([hit, torch.zeros_like(hit)], 1)

@attrs.frozen
class SpyOptions:
    epochs: int = option(2, "epochs", positive)
    memorize: bool = option(False, "return a Memorizer instead of training")

class SpyTarget:
    def __init__(self, options):
        self.options = options
    def build(self, data):
        return Skip()
    def fit(self, data, env):
        FITS.append(data.x[:, 0].long().tolist())
        SEEDS.append(env.seed)
        if len(FITS) == STOP["at"]:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the run
        if self.options.memorize:
            return Memorizer(data.x[:, 0].long(), len(RECORDS["x"]))
        recipe = TrainRecipe(self.options.epochs, 32, 0.05, channels_last=False)
        return fit_classifier(self.build(data), data, recipe, env)

class Spy:
    def __init__(self, name, threat):
        self.name, self.threat_model = name, threat
    def score(self, ctx):
        CONTEXTS[self.name] = ctx
        if ctx.references is not None:
            ctx.reference_models()
        return -ctx.target.loss(ctx.evaluation.x, ctx.evaluation.y)

@hookimpl
def register_datasets(register):
    register("id-records", IdRecords, options=IdOptions)

@hookimpl
def register_targets(register):
    register("spy-target", SpyTarget, options=SpyOptions)

@hookimpl
def register_attacks(register):
    register("spy-known", lambda: Spy("spy-known", ThreatModel.KNOWN_MEMBERS))
    register("spy-population", lambda: Spy("spy-population", ThreatModel.POPULATION))
"""


@pytest.fixture
def spies():
    return make_module("mia_test_spies", SPIES)


class Messages(Progress):
    """Keeps the progress messages instead of printing them."""

    def __init__(self):
        super().__init__(enabled=False)
        self.lines = []

    def message(self, text):
        self.lines.append(text)


def experiment(spies, cache=None, progress=QUIET, **settings):
    settings = {"dataset": "id-records", "target": "spy-target", "attacks": ("spy-known",),
                "members": 100, "device": "cpu", "seed": 3, **settings}
    return run_experiment(ExperimentConfig(**settings), load_catalog(extra=[("spies", spies)]),
                          cache=cache, progress=progress)


def test_target_trains_on_exactly_the_members(spies):
    _, art = experiment(spies)
    assert sorted(spies.FITS[0]) == sorted(art.split.members.tolist())


def test_reference_model_i_trains_on_exactly_the_records_its_in_mask_names(spies):
    progress = Messages()
    result, art = experiment(spies, attacks=("spy-population",), reference_models=4,
                             progress=progress)
    refs = spies.CONTEXTS["spy-population"].reference_models()
    announced = [line for line in progress.lines if line.startswith("reference model")]
    assert announced[0] == (f"reference models: training 4 on executor 'local', about "
                            f"{int(refs.in_mask[0].sum())} reference records each")
    assert all(re.fullmatch(rf"reference model {i} done: {i}/4, \d+s elapsed, about \d+s left",
                            announced[i]) for i in range(1, 5))
    pool_ids = refs.records.x[:, 0].long()
    assert pool_ids.tolist() == torch.cat([art.split.population, art.eval_index]).tolist()
    assert len(spies.FITS) == 1 + 4 == result.models_trained
    for i, received in enumerate(spies.FITS[1:]):
        assert sorted(received) == sorted(pool_ids[refs.in_mask[i]].tolist())
        assert len(set(received)) == len(received)
    members = set(art.split.members.tolist())
    assert not members & set(pool_ids[refs.population_positions].tolist())


def test_every_model_gets_its_own_wide_seed(spies):
    experiment(spies, attacks=("spy-population",), reference_models=6)
    seeds = list(spies.SEEDS)
    assert len(seeds) == 7 and len(set(seeds)) == 7  # target + 6 reference models
    assert max(seeds[1:]) > 2**40  # drawn from a wide range, not a handful of values
    assert all(0 <= s < 2**63 for s in seeds)
    spies.SEEDS.clear()
    experiment(spies, attacks=("spy-population",), reference_models=6)
    assert seeds == spies.SEEDS  # and they depend only on the configuration


def test_reference_model_i_is_the_model_trained_on_in_mask_row_i(spies):
    experiment(spies, attacks=("spy-population",), reference_models=4,
               options={"target": {"memorize": "true"}})
    refs = spies.CONTEXTS["spy-population"].reference_models()
    remembered = refs.pool_logits()[:, :, 0] > 5  # (models, pool): which records each knows
    assert torch.equal(remembered, refs.in_mask)
    for i in range(refs.count):
        assert torch.equal(refs.logits(i, refs.records.x)[:, 0] > 5, refs.in_mask[i])


def test_control_trains_on_decoys_disjoint_from_every_other_set(spies):
    _, art = experiment(spies, control=True, attacks=("spy-known", "spy-population"),
                        reference_models=2)
    split = art.split
    decoys = set(split.decoys.tolist())
    assert sorted(spies.FITS[0]) == sorted(decoys) and len(decoys) == 100
    for other in (split.members, split.nonmembers, split.population):
        assert not decoys & set(other.tolist())


def test_evaluation_order_does_not_reveal_membership(spies):
    _, art = experiment(spies, members=200)
    seen = spies.CONTEXTS["spy-known"].evaluation.x[:, 0].long()
    assert seen.tolist() == art.eval_index.tolist()
    members = set(art.split.eval_members.tolist())
    assert art.eval_is_member.tolist() == [i in members for i in seen.tolist()]
    half = art.eval_is_member[: len(seen) // 2].double().mean()
    assert 0.3 < half < 0.7  # a sorted order would give 1.0
    runs = (art.eval_is_member[1:] != art.eval_is_member[:-1]).sum()
    assert runs > len(seen) // 4  # members and non-members interleave


def test_rerun_without_cache_retrains_and_is_bit_identical(spies):
    first, a = experiment(spies, attacks=("spy-known", "loss-threshold"))
    second, b = experiment(spies, attacks=("spy-known", "loss-threshold"))
    assert first.models_trained == second.models_trained == 1
    assert first.models_from_cache == second.models_from_cache == 0
    assert len(spies.FITS) == 2
    for name, weight in a.target_state.items():
        assert torch.equal(weight, b.target_state[name]), name
    for name in a.scores:
        assert torch.equal(a.scores[name], b.scores[name])
    assert [r.metrics for r in first.attacks] == [r.metrics for r in second.attacks]


def test_changed_record_means_a_retrain(spies, tmp_path):
    first, _ = experiment(spies, cache=ModelCache(tmp_path))
    again, _ = experiment(spies, cache=ModelCache(tmp_path))
    assert (first.models_trained, again.models_trained, again.models_from_cache) == (1, 0, 1)
    spies.RECORDS["x"][7, 2] += 0.5  # one feature of one record, same size, same options
    changed, _ = experiment(spies, cache=ModelCache(tmp_path))
    assert (changed.models_trained, changed.models_from_cache) == (1, 0)


def trainer_for(spies, cache, **options):
    config = ExperimentConfig(dataset="id-records", target="spy-target",
                              attacks=("spy-known",), members=50, options=options)
    plan = make_plan(config, load_catalog(extra=[("spies", spies)]))
    dataset, target = plan.dataset, plan.target
    pool = dataset.instance.load(None)
    factory = ModelFactory(target, dataset, pool, torch.device("cpu"), cache, QUIET)
    return factory.target_model, dataset, target, pool


def test_model_cache_key_covers_records_seed_options_and_torch(spies, tmp_path, monkeypatch):
    cache = ModelCache(tmp_path)
    records = torch.arange(0, 200, 2)
    train, *_ = trainer_for(spies, cache)
    train(records, 1)
    train(records, 1)
    assert (cache.trained, cache.hits) == (1, 1)
    misses = [
        lambda: train(records, 2),  # another seed
        lambda: train(records + 1, 1),  # other records
        lambda: train(torch.cat([records[:-1], records[-1:] + 1]), 1),  # the last one differs
        lambda: trainer_for(spies, cache, target={"epochs": "3"})[0](records, 1),
        lambda: trainer_for(spies, cache, dataset={"size": "601"})[0](records, 1),
    ]
    for i, miss in enumerate(misses, start=2):
        miss()
        assert (cache.trained, cache.hits) == (i, 1)
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    trainer_for(spies, cache)[0](records, 1)
    assert (cache.trained, cache.hits) == (len(misses) + 2, 1)


def test_model_key_parts_name_device_type_and_data(spies):
    _, dataset, target, pool = trainer_for(spies, ModelCache(None))
    cpu = model_key_parts(dataset, target, pool, torch.device("cpu"))
    assert cpu != model_key_parts(dataset, target, pool, torch.device("cuda", 0))
    assert cpu == model_key_parts(dataset, target, pool, torch.device("cpu"))
    other = type(pool)(pool.x.clone(), pool.y.clone(), 2)
    other.x[0, 1] = 42.0
    assert cpu != model_key_parts(dataset, target, other, torch.device("cpu"))
    flipped = type(pool)(pool.x.clone(), 1 - pool.y, 2)
    assert cpu != model_key_parts(dataset, target, flipped, torch.device("cpu"))


BLOBS = ["--dataset", "blobs", "--attack", "lira", "--members", "200", "--reference-models",
         "2", "-o", "target.epochs=2", "-o", "dataset.size=1000", "--json", "--quiet"]


def cli(*args, **env):
    result = CliRunner().invoke(run, [*BLOBS, *args], env=env or None)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_attack_options_do_not_change_the_models(tmp_path):
    first = cli("--cache-dir", str(tmp_path))
    other = cli("--cache-dir", str(tmp_path), "-o", "lira.variance=global",
                "--attack", "loss-threshold")
    assert (first["models_trained"], other["models_trained"], other["models_from_cache"]) == (
        3, 0, 3)


def test_no_cache_reads_and_writes_nothing(tmp_path):
    given, env_dir = tmp_path / "given", tmp_path / "env"
    result = cli("--no-cache", "--cache-dir", str(given), MIA_CACHE_DIR=str(env_dir))
    assert result["models_trained"] == 3
    assert not given.exists() and not env_dir.exists()
    cli("--cache-dir", str(given))  # fill it
    before = {p.name: p.read_bytes() for p in given.iterdir()}
    assert len([n for n in before if n.endswith(".pt")]) == 3
    again = cli("--no-cache", "--cache-dir", str(given))
    assert (again["models_trained"], again["models_from_cache"]) == (3, 0)
    assert {p.name: p.read_bytes() for p in given.iterdir()} == before


class Payload:
    """Unpickling this object creates ``marker``: what a malicious cache file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (type(self.marker).touch, (self.marker,))


def test_cache_entry_whose_pickle_runs_code_is_rejected_and_never_run(tmp_path):
    parts = {"model": "x"}
    entry = tmp_path / f"{cache_key({'format': FORMAT, **parts})}.pt"
    probe = tmp_path / "probe.pt"
    torch.save({"w": Payload(tmp_path / "probe-ran")}, probe)
    torch.load(probe, weights_only=False)  # the payload is real: plain unpickling runs it
    assert (tmp_path / "probe-ran").exists()

    marker = tmp_path / "payload-ran"
    torch.save({"weight": Payload(marker)}, entry)
    messages = []
    progress = type("Recorder", (), {"message": lambda self, text: messages.append(text)})()
    cache = ModelCache(tmp_path, progress)
    model = cache.fit(parts, lambda: torch.nn.Linear(2, 2), lambda: torch.nn.Linear(2, 2),
                      torch.device("cpu"))
    assert not marker.exists()
    assert isinstance(model, torch.nn.Linear) and (cache.trained, cache.hits) == (1, 0)
    assert messages and "is damaged" in messages[0]


def test_target_trains_on_members_plus_the_included_canaries(spies):
    result, art = experiment(spies, canaries=60)
    trained = spies.FITS[0]
    members = sorted(art.split.members.tolist())
    # canaries are relabelled copies, so their ids repeat pool ids; the members are all there
    assert sorted(set(trained) & set(members)) == members
    extra = len(trained) - len(members)
    assert 15 < extra < 45  # about half of the 60 canaries
    assert result.attack("spy-known").canary_audit.canaries == 60


def test_an_interrupted_run_keeps_every_finished_model(spies, tmp_path):
    settings = {"attacks": ("spy-population",), "reference_models": 6}
    spies.STOP["at"] = 4  # Ctrl-C while the third reference model trains
    with pytest.raises(KeyboardInterrupt):
        experiment(spies, cache=ModelCache(tmp_path), **settings)
    spies.STOP["at"] = 0
    assert len(list(tmp_path.glob("*.pt"))) == 3
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    resumed, _ = experiment(spies, cache=ModelCache(tmp_path), **settings)
    assert (resumed.models_from_cache, resumed.models_trained) == (3, 7 - 3)
