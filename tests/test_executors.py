"""Executors: the same reference models whatever trains them, no lost work when one fails."""

from __future__ import annotations

import importlib
import sys

import pytest
import torch
from click.testing import CliRunner

from mia_core import ExecEnv, PluginError, TrainJob, TrainTask, hookimpl
from mia_core.cli.mia_run import run as cli_run
from mia_core.default_plugins.local_executor import (
    PARALLEL_WORK,
    LocalExecutor,
    LocalOptions,
    WorkerDied,
)
from mia_core.testing import run, run_with_artifacts, tiny_images

SMALL = dict(dataset="tiny-images", attacks=["lira"], members=100, reference_models=4,
             options={"target": {"epochs": 2}})
# one torch thread per training whatever the number of workers: bit-identical weights
ONE_THREAD = {"options": {"target": {"epochs": 2}, "local": {"threads": 1}}}

# A target whose fit() misbehaves in worker processes only (never in the test's own process),
# as a real module file: spawned workers import it by name.
DYING_TARGET = """
import os
import signal
from pathlib import Path

import torch
from mia_cnn_target.plugin import CnnOptions, CnnTarget
from mia_core import hookimpl


class DyingTarget(CnnTarget):
    def fit(self, data, env):
        if os.getpid() != int(os.environ["MIA_TEST_DRIVER"]):
            counter = Path(os.environ["MIA_TEST_COUNTER"])
            fd = os.open(counter, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:  # appends are atomic; the offset after ours numbers this fit, race-free
                os.write(fd, b"x")
                number = os.lseek(fd, 0, os.SEEK_CUR)
            finally:
                os.close(fd)
            with Path(f"{counter}.threads").open("a") as f:  # what each training ran with
                f.write(str(torch.get_num_threads()))
            mode = os.environ["MIA_TEST_MODE"]
            if mode == "raise":
                raise ValueError("broken on purpose")
            if mode.startswith("kill-") and number == int(mode[5:]):
                os.kill(os.getpid(), signal.SIGKILL)
        return super().fit(data, env)


@hookimpl
def register_targets(register):
    register("dying-cnn", DyingTarget, options=CnnOptions)
"""


@pytest.fixture
def dying(tmp_path, monkeypatch):
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / "mia_dying_target.py").write_text(DYING_TARGET)
    monkeypatch.syspath_prepend(str(folder))  # spawned workers get the same sys.path
    monkeypatch.setenv("MIA_TEST_DRIVER", str(__import__("os").getpid()))
    monkeypatch.setenv("MIA_TEST_COUNTER", str(tmp_path / "fits"))
    monkeypatch.setenv("MIA_TEST_MODE", "")
    module = importlib.import_module("mia_dying_target")
    yield module
    sys.modules.pop("mia_dying_target", None)


def cache_files(folder):
    return {p.name: torch.load(p, weights_only=True) for p in folder.glob("*.pt")}


def test_one_worker_and_two_workers_give_bit_identical_models_and_metrics(tmp_path):
    one = run_with_artifacts(**{**SMALL, **ONE_THREAD}, workers=1, cache_dir=tmp_path / "one")
    two = run_with_artifacts(**{**SMALL, **ONE_THREAD}, workers=2, cache_dir=tmp_path / "two")
    first, second = cache_files(tmp_path / "one"), cache_files(tmp_path / "two")
    assert len(first) == 5 and first.keys() == second.keys()  # target + 4 reference models
    for name, state in first.items():
        for key, weight in state.items():
            assert torch.equal(weight, second[name][key]), (name, key)
    assert one.result.attacks[0].metrics == two.result.attacks[0].metrics
    assert torch.equal(one.artifacts.scores["lira"], two.artifacts.scores["lira"])
    assert one.result.models_trained == two.result.models_trained == 5


REVERSED = []


class ReversedExecutor:
    """Trains the jobs last to first and hands back state dicts, as a remote executor would."""

    def run(self, task, jobs, env):
        REVERSED.append(f"run {len(jobs)}")
        for job in reversed(jobs):
            REVERSED.append(job.number)
            yield job, task.train(job, env.device).state_dict()


@hookimpl
def register_executors(register):
    register("reversed", ReversedExecutor, description="test: last job first")


def test_a_third_party_executor_in_any_order_gives_the_same_models(tmp_path):
    REVERSED.clear()
    local = run_with_artifacts(**SMALL, cache_dir=tmp_path / "local")
    other = run_with_artifacts(sys.modules[__name__], **SMALL, executor="reversed",
                               cache_dir=tmp_path / "reversed")
    assert REVERSED == ["run 4", 3, 2, 1, 0]
    assert torch.equal(local.artifacts.scores["lira"], other.artifacts.scores["lira"])
    assert cache_files(tmp_path / "local").keys() == cache_files(tmp_path / "reversed").keys()


def test_cached_models_are_never_sent_to_the_executor(tmp_path):
    first = run(**SMALL, cache_dir=tmp_path)  # the local executor fills the cache
    REVERSED.clear()
    again = run(sys.modules[__name__], **SMALL, executor="reversed", cache_dir=tmp_path)
    assert REVERSED == []  # not even started with nothing to do
    assert (again.models_trained, again.models_from_cache) == (0, 5)
    assert again.attacks[0].metrics == first.attacks[0].metrics


class Liar:
    def __init__(self, mode):
        self.mode = mode

    def run(self, task, jobs, env):
        if self.mode == "twice":
            state = task.train(jobs[0], env.device)
            yield jobs[0], state
            yield jobs[0], state
        elif self.mode == "type":
            yield jobs[0], "weights"
        elif self.mode == "short":
            yield jobs[0], task.train(jobs[0], env.device)
        else:
            raise RuntimeError("cluster on fire")


@pytest.mark.parametrize(("mode", "message"), [
    ("twice", "executor 'liar-twice' returned TrainJob(number=0"),
    ("type", "executor 'liar-type' returned str for reference model 1; expected a state dict"),
    ("short", "executor 'liar-short' finished without reference model(s) 2, 3, 4"),
    ("crash", "executor 'liar-crash' failed: RuntimeError: cluster on fire"),
])
def test_an_executor_that_breaks_the_contract_is_named(mode, message):
    class Plugin:
        @staticmethod
        @hookimpl
        def register_executors(register):
            register(f"liar-{mode}", lambda: Liar(mode))

    with pytest.raises(PluginError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        run(("liars", Plugin), **SMALL, executor=f"liar-{mode}")


def test_a_worker_that_dies_names_its_job_and_the_rerun_trains_only_the_rest(
        dying, tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_TEST_MODE", "kill-3")  # the third model a worker starts dies
    cache = tmp_path / "cache"
    config = {**SMALL, **ONE_THREAD, "target": "dying-cnn", "workers": 2, "cache_dir": cache}
    with pytest.raises(WorkerDied, match=r"^local worker [12] \(pid \d+\) was killed by signal "
                       r"9 while training reference model [1-4] \(seed \d+\); the models "
                       "finished before are kept"):
        run(dying, **config)
    kept = len(list(cache.glob("*.pt"))) - 1  # the target model was trained first
    assert 1 <= kept <= 3
    assert not list(cache.glob("*.tmp*"))
    monkeypatch.setenv("MIA_TEST_MODE", "")
    result = run(dying, **config)
    assert (result.models_trained, result.models_from_cache) == (4 - kept, 1 + kept)
    clean = run(dying, **{**config, "workers": 1, "cache_dir": tmp_path / "clean"})
    assert result.attacks[0].metrics == clean.attacks[0].metrics


def test_a_plugin_error_in_a_worker_names_the_target_and_the_model(dying, monkeypatch):
    monkeypatch.setenv("MIA_TEST_MODE", "raise")
    with pytest.raises(PluginError, match=r"^target 'dying-cnn' \(plugin 'mia_dying_target'\) "
                       r"failed in fit\(\) for reference model [1-4]: ValueError: broken on "
                       "purpose$"):
        run(dying, **SMALL, target="dying-cnn", workers=2)


def jobs_of(records, count=4):
    return [TrainJob(i, torch.arange(records), i) for i in range(count)]


class Recipe:
    def __init__(self, epochs):
        self.epochs = epochs

    def build(self, data):
        return torch.nn.Linear(2, 2)

    def fit(self, data, env):
        return self.build(data)

    def recipe(self):
        from mia_core import TrainRecipe

        return TrainRecipe(self.epochs, 32, 1e-3)


def test_auto_workers_parallel_only_for_models_worth_a_process():
    local = LocalExecutor(LocalOptions())
    cpu = ExecEnv(torch.device("cpu"), threads=2, workers=0)
    data = tiny_images(10)
    big, small = TrainTask(Recipe(30), "t", data), TrainTask(Recipe(1), "t", data)
    records = -(-PARALLEL_WORK // 30)  # the fewest records that reach PARALLEL_WORK
    assert local.workers(big, jobs_of(records), cpu) == 2
    assert local.workers(big, jobs_of(records - 1), cpu) == 1
    assert local.workers(small, jobs_of(records), cpu) == 1
    assert local.workers(big, jobs_of(records, count=1), cpu) == 1  # one job: no pool
    assert local.workers(big, jobs_of(records), ExecEnv(torch.device("cpu"), 1, 0)) == 1
    assert local.workers(small, jobs_of(10), ExecEnv(torch.device("cpu"), 2, 3)) == 3
    assert local.workers(small, jobs_of(10, count=2), ExecEnv(torch.device("cpu"), 2, 3)) == 2


def test_a_target_without_build_trains_in_this_process():
    class NoBuild:
        def fit(self, data, env):
            return torch.nn.Linear(2, 2)

    task = TrainTask(NoBuild(), "t", tiny_images(10))
    env = ExecEnv(torch.device("cpu"), threads=2, workers=2)
    assert not task.portable() and LocalExecutor(LocalOptions()).workers(task, jobs_of(10),
                                                                         env) == 1


def test_executors_are_listed_and_described():
    runner = CliRunner()
    listing = runner.invoke(cli_run, ["--list-plugins"])
    assert "executors:\n  local  Reference models in this process or in --workers N" in (
        listing.output)
    described = runner.invoke(cli_run, ["--describe", "local"])
    assert "executor 'local'" in described.output and "threads (int, default 0)" in (
        described.output)


def test_unknown_executor_is_a_usage_error_with_a_suggestion():
    result = CliRunner().invoke(cli_run, ["--dataset", "mnist", "--attack", "lira",
                                          "--executor", "locl"])
    assert result.exit_code == 2
    assert "unknown executor 'locl'; did you mean 'local'?" in result.output


def test_batched_reference_models_equal_one_at_a_time_through_the_executor(tmp_path):
    fp32 = {"target": {"epochs": 2, "precision": "fp32", "channels_last": False}}
    pairs = {**fp32, "local": {"batch": 2, "threads": 1}}
    single = run_with_artifacts(**{**SMALL, "options": fp32}, cache_dir=tmp_path / "one")
    batched = run_with_artifacts(**{**SMALL, "options": pairs}, cache_dir=tmp_path / "two")
    in_workers = run_with_artifacts(**{**SMALL, "options": pairs}, workers=2,
                                    cache_dir=tmp_path / "workers")
    # two batches of two, one per worker: the same arithmetic as in this process
    assert torch.equal(in_workers.artifacts.scores["lira"], batched.artifacts.scores["lira"])
    from_workers = cache_files(tmp_path / "workers")
    for name, state in cache_files(tmp_path / "two").items():
        for key, weight in state.items():
            assert torch.equal(from_workers[name][key], weight)
    first, second = cache_files(tmp_path / "one"), cache_files(tmp_path / "two")
    assert len(first) == 5 and first.keys() == second.keys()
    differ = 0
    for name, state in first.items():
        for key, weight in state.items():
            # equal up to rounding, which Adam can magnify on a near-zero gradient to about
            # lr per step (seen: 0.3 % of one model's norm on an AVX2-only AMD EPYC); another
            # seed or other records differ by tens of per cent
            gap = (second[name][key] - weight).norm() / weight.norm()
            assert gap < 5e-3, (name, key, gap.item())
            differ += not torch.equal(second[name][key], weight)
    assert differ  # really trained another way (equal up to rounding, not bit for bit)
    # LiRA's log-likelihood ratios magnify weight rounding (a per-record variance from four
    # models can be tiny), so the scores are compared by rank: 0.998 on an AVX2-only EPYC
    from scipy.stats import spearmanr

    rho = spearmanr(batched.artifacts.scores["lira"].numpy(),
                    single.artifacts.scores["lira"].numpy()).statistic
    assert rho > 0.98, rho
    assert abs(batched.result.attacks[0].metrics.auc - single.result.attacks[0].metrics.auc) < 0.01


def test_only_targets_that_promise_fit_classifier_are_batched():
    class Plain(Recipe):
        recipe = None

    data = tiny_images(10)
    assert TrainTask(Recipe(1), "t", data).batchable()
    assert not TrainTask(Plain(1), "t", data).batchable()
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    from mia_core import resolve_batch

    assert resolve_batch(0, TrainTask(Recipe(1), "t", data), cpu) == 1
    assert resolve_batch(0, TrainTask(Recipe(1), "t", data), cuda) == 8
    assert resolve_batch(0, TrainTask(Plain(1), "t", data), cuda) == 1
    assert resolve_batch(3, TrainTask(Plain(1), "t", data), cpu) == 3


def test_a_missing_optional_executor_says_where_it_comes_from():
    from mia_core import ConfigError
    from mia_core.catalog.index import PluginIndex
    from mia_core.catalog.loading import load_catalog

    catalog = load_catalog(entry_points=[], index=PluginIndex(None))  # the core's own only
    with pytest.raises(ConfigError) as error:
        catalog.get("executor", "ray")
    assert str(error.value) == (
        "unknown executor 'ray' (available: local; see mia-run --list-plugins); it comes with "
        "the optional distribution mia-ray-executor (pip install -e plugins/ray_executor)")


def test_workers_train_with_the_threads_they_are_given(dying, tmp_path, monkeypatch):
    threads = tmp_path / "fits.threads"  # each fit in a worker writes its torch threads
    run(dying, **{**SMALL, "options": {"target": {"epochs": 1}, "local": {"threads": 2}}},
        target="dying-cnn", workers=2)
    assert threads.read_text() == "2222"
    threads.unlink()
    before = torch.get_num_threads()
    torch.set_num_threads(4)  # the run's threads, shared out: 4 // 2 workers
    try:
        run(dying, **{**SMALL, "options": {"target": {"epochs": 1}}}, target="dying-cnn",
            workers=2)
    finally:
        torch.set_num_threads(before)
    assert threads.read_text() == "2222"


def test_weights_from_workers_are_read_without_running_code(tmp_path):
    import io
    import pickle

    from mia_core import unpack_state
    from tests.test_promises import Payload  # creates a file when unpickled

    buffer = io.BytesIO()
    torch.save({"weight": Payload(tmp_path / "ran")}, buffer)
    with pytest.raises(pickle.UnpicklingError):
        unpack_state(buffer.getvalue())
    assert not (tmp_path / "ran").exists()
    model = torch.nn.Linear(3, 2)
    from mia_core.training.executors import pack_state

    state = unpack_state(pack_state(model))
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_a_worker_that_cannot_load_the_target_says_so():
    from tests.conftest import make_module

    module = make_module("mia_nowhere_target", """
from mia_cnn_target.plugin import CnnOptions, CnnTarget
from mia_core import hookimpl

class NowhereTarget(CnnTarget):  # defined in memory: a spawned worker cannot import it
    pass

@hookimpl
def register_targets(register):
    register("nowhere-cnn", NowhereTarget, options=CnnOptions)
""")
    with pytest.raises(PluginError, match=r"^a local worker could not load the task \(the "
                       r"target plugin must be importable by a new Python process: installed, "
                       r"or on sys.path\): ModuleNotFoundError: No module named "
                       r"'mia_nowhere_target'"):
        run(module, **SMALL, target="nowhere-cnn", workers=2)


def test_pool_logits_come_from_the_workers_equal_the_drivers_and_are_cached(tmp_path):
    """Workers query each model where it is: the driver then queries no reference model,
    the scores are bit for bit those of driver-side queries, and a rerun (from the cache)
    queries nothing either."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the driver's queries with the workers' one thread
    try:
        workers = {**SMALL, **ONE_THREAD, "workers": 2, "cache_dir": tmp_path / "a"}
        here = {**workers, "workers": 1, "cache_dir": tmp_path / "b"}
        remote = run_with_artifacts(**workers)
        local = run_with_artifacts(**here)
        assert remote.result.reference_queries == 0
        assert local.result.reference_queries == 4  # trained here: queried here
        assert torch.equal(remote.artifacts.scores["lira"], local.artifacts.scores["lira"])
        for config in (workers, here):  # both caches now hold every model and its logits
            again = run(**config)
            assert (again.models_trained, again.reference_queries) == (0, 0)
            assert again.attacks[0].metrics == remote.result.attacks[0].metrics
    finally:
        torch.set_num_threads(threads)
