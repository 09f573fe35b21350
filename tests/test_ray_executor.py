"""The ``ray`` executor on a real local Ray instance (no mocks): loopback only, the same models
as the local executor, and a killed Ray worker retried to the same result.

One file, so ``make test``'s one-file-per-worker scheduling starts one Ray instance at most.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
from pathlib import Path

import pytest
import torch

from mia_core.testing import run, run_with_artifacts

ray = pytest.importorskip("ray", reason="the ray executor is installed by `make test`")
mia_ray = pytest.importorskip("mia_ray_executor")

from tests.test_executors import DYING_TARGET, SMALL, cache_files  # noqa: E402

ONE_THREAD = {"target": {"epochs": 2}, "local": {"threads": 1}}
RAY_ONE_CPU = {"target": {"epochs": 2}, "ray": {"cpus_per_task": 1}}


def listening_sockets() -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket on this machine, IPv4 and IPv6."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state != "0A":  # LISTEN
                continue
            address, port = local.split(":")
            found.add((_address(address), int(port, 16)))
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    full = b"".join(words)
    if full[:12] == b"\0" * 10 + b"\xff\xff":  # IPv4-mapped
        return ".".join(str(b) for b in full[12:])
    return full.hex()


def is_loopback(address: str) -> bool:
    return address.startswith("127.") or address == "0" * 31 + "1"


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc/net/tcp (Linux)")
def test_a_local_instance_listens_on_loopback_only():
    if ray.is_initialized():
        ray.shutdown()
    before = listening_sockets()
    with mia_ray.local_instance(cpus=1):
        assert ray.nodes()[0]["NodeManagerAddress"] == "127.0.0.1"
        assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
        opened = listening_sockets() - before
        assert opened, "a running Ray instance listens somewhere"
        assert all(is_loopback(address) for address, _ in opened), opened
        assert _watchdogs(), "a local instance is watched"
        from mia_ray_executor.watchdog import MARK

        instance = _descendants(os.getpid()) - set(_watchdogs())
        marks = set()
        for pid in instance:
            with contextlib.suppress(OSError):
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                marks |= {e for e in environ if e.startswith(MARK.encode() + b"=")}
        assert len(marks) == 1, marks  # every process of the instance carries one mark
        assert MARK not in os.environ  # the driver's own environment is left as it was
        # its workers run at normal priority (Ray's default, 15, starves them beside any
        # other busy process)
        assert ray.get(ray.remote(lambda: os.nice(0)).remote()) == 0
    assert not ray.is_initialized()
    assert not _watchdogs()  # released by the normal end, without killing anything


def _watchdogs() -> list[int]:
    """This process's running watchdog children."""
    found = []
    for pid in _descendants(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"mia_ray_executor/watchdog.py" in cmdline and state != "Z":
            found.append(pid)
    return found


def test_the_executor_starts_and_stops_its_own_instance_and_matches_local(tmp_path):
    if ray.is_initialized():
        ray.shutdown()
    local = run_with_artifacts(**{**SMALL, "options": ONE_THREAD}, workers=1,
                               cache_dir=tmp_path / "local")
    remote = run_with_artifacts(**{**SMALL, "options": RAY_ONE_CPU}, executor="ray",
                                cache_dir=tmp_path / "ray")
    assert not ray.is_initialized()  # started for the run, shut down after it
    first, second = cache_files(tmp_path / "local"), cache_files(tmp_path / "ray")
    assert len(first) == 5 and first.keys() == second.keys()
    for name, state in first.items():
        for key, weight in state.items():
            assert torch.equal(weight, second[name][key]), (name, key)
    assert local.result.attacks[0].metrics == remote.result.attacks[0].metrics
    assert torch.equal(local.artifacts.scores["lira"], remote.artifacts.scores["lira"])


@pytest.fixture(scope="module")
def dying_on_ray(tmp_path_factory):
    """A Ray instance whose workers can import a target that kills its second fit's process
    once (the environment is fixed when Ray starts, so it is set before)."""
    folder = tmp_path_factory.mktemp("ray-modules")
    (folder / "mia_dying_target.py").write_text(DYING_TARGET)
    control = folder / "fits"
    saved = {k: os.environ.get(k) for k in
             ("PYTHONPATH", "MIA_TEST_DRIVER", "MIA_TEST_COUNTER", "MIA_TEST_MODE")}
    os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [str(folder),
                                                               saved["PYTHONPATH"]])),
                      MIA_TEST_DRIVER=str(os.getpid()), MIA_TEST_COUNTER=str(control),
                      MIA_TEST_MODE="kill-2")
    sys.path.insert(0, str(folder))
    module = importlib.import_module("mia_dying_target")
    if ray.is_initialized():
        ray.shutdown()
    try:
        with mia_ray.local_instance(cpus=2):
            yield module, control
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("mia_dying_target", None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_a_killed_ray_worker_is_retried_and_the_run_is_complete_and_correct(dying_on_ray,
                                                                             tmp_path):
    module, fits = dying_on_ray
    result = run(module, **{**SMALL, "options": RAY_ONE_CPU}, target="dying-cnn",
                 executor="ray", cache_dir=tmp_path / "ray")
    assert fits.read_text() == "x" * 5  # 4 models, one of them started twice
    assert Path(f"{fits}.threads").read_text() == "1" * 5  # one CPU per task: one thread
    assert (result.models_trained, result.models_from_cache) == (5, 0)
    clean = run(module, **{**SMALL, "options": ONE_THREAD}, target="dying-cnn", workers=1,
                cache_dir=tmp_path / "local")
    assert result.attacks[0].metrics == clean.attacks[0].metrics


def test_an_unreachable_cluster_is_one_error_before_any_training(monkeypatch):
    from mia_core import MiaError

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    started = time.perf_counter()
    with pytest.raises(MiaError, match=r"^cannot join the Ray cluster at 127\.0\.0\.1:1: "
                       r"Connection refused; start it \(ray start --head\) or fix"):
        run(**{**SMALL, "options": {"ray": {"address": "127.0.0.1:1"}}}, executor="ray")
    assert time.perf_counter() - started < 5  # no target trained, no Ray retries


def test_only_host_port_addresses_are_probed():
    from mia_ray_executor.plugin import _unreachable

    assert _unreachable("auto") is None  # Ray finds a running instance itself
    assert _unreachable("ray://127.0.0.1:1") == "Connection refused"
    assert _unreachable("127.0.0.1:1") == "Connection refused"


def _descendants(pid: int) -> set[int]:
    from mia_ray_executor.watchdog import descendants

    return descendants({pid}) - {pid}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_dead_driver_leaves_no_ray_process_and_no_socket(tmp_path, how):
    """mia-run --executor ray, stopped while Ray trains: soon nothing of the instance it
    started is left, and no socket it opened still listens."""
    import signal
    import subprocess

    from mia_ray_executor.watchdog import start_time
    from tests.test_interrupts import wait_for

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MIA_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("RAY_ADDRESS", None)
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("mia-run")), "--dataset", "blobs", "--target",
         "cnn", "-o", "target.epochs=12", "--members", "200", "--attack", "lira",
         "--reference-models", "8", "--executor", "ray", "-o", "ray.cpus=2"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    wait_for(process, "reference model 1 done")  # Ray's processes are up and training
    started = {pid: start_time(pid) for pid in _descendants(process.pid)}
    assert len(started) >= 3, started  # gcs, raylet, workers ...
    mark = f"{process.pid}:{start_time(process.pid)}"
    process.send_signal(getattr(signal, how))
    _, err = process.communicate(timeout=120)
    assert process.returncode == (143 if how == "SIGTERM" else -9), err[:1500] + " … " + err[-1500:]
    # a generous deadline for a busy machine, checked against the event (quiet: about 4 s)
    deadline = time.monotonic() + 60
    left, ours = started, set()
    while time.monotonic() < deadline:
        left = {pid for pid, t in started.items() if start_time(pid) == t}
        ours = marked_listeners(mark)  # another test's server (a browser's driver) is not ours
        if not left and not ours:
            break
        time.sleep(0.25)
    assert not left, f"Ray processes still running: {left}"
    assert not ours, f"sockets of the run's Ray instance still listen: {ours}"


def marked_listeners(mark: str) -> set[int]:
    """Pids of processes that carry the Ray watchdog's ``mark`` and hold a listening TCP
    socket (every process of a local instance carries its driver's mark)."""
    from mia_ray_executor.watchdog import marked

    inodes = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if path.exists():
            inodes |= {line.split()[9] for line in path.read_text().splitlines()[1:]
                       if line.split()[3] == "0A"}
    found = set()
    for pid in marked(mark):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        found.add(pid)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_watchdog_starts_at_once_and_ends_marked_processes_of_a_dead_driver(tmp_path):
    """The watchdog alone, with stand-ins: a "driver" and a process carrying its mark that
    the watchdog never saw as the driver's descendant (as one of Ray's started a moment
    before the driver died). The driver's death ends it; a process without the mark, or
    with another driver's, is left alone. It runs as the plugin starts it (``-I -S``: no
    site-packages, so it cannot import torch or a plugin) and says it watches at once."""
    import subprocess

    from mia_ray_executor import watchdog

    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    driver = subprocess.Popen(sleeper)
    born = watchdog.start_time(driver.pid)
    token = f"{driver.pid}:{born}"
    guard = subprocess.Popen([sys.executable, "-I", "-S", watchdog.__file__, str(driver.pid),
                              str(born)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    others = []
    try:
        assert guard.stdout.readline().strip() == watchdog.WATCHING.encode()
        marked = subprocess.Popen(sleeper, env={**os.environ, watchdog.MARK: token})
        plain = subprocess.Popen(sleeper)
        stranger = subprocess.Popen(sleeper, env={**os.environ, watchdog.MARK: "1:2"})
        others = [marked, plain, stranger]
        time.sleep(0.5)
        assert marked.poll() is None
        driver.kill()
        driver.wait()
        assert marked.wait(timeout=60) == -15  # SIGTERM from the watchdog
        assert guard.wait(timeout=60) == 0
        assert plain.poll() is None and stranger.poll() is None
    finally:
        for process in [driver, guard, *others]:
            process.kill()
            process.wait()


def test_a_language_model_trains_in_ray_tasks_to_the_local_bits(tmp_path):
    """The GPT target (plugins/text) and its reference models trained in Ray tasks: the same
    weights, answers and LiRA scores as in one local worker."""
    if ray.is_initialized():
        ray.shutdown()
    text = dict(dataset="wordnet-glosses", target="gpt", attacks=["lira"], members=60,
                reference_models=2)
    options = {"wordnet-glosses": {"records": 200, "max_bytes": 32}, "target": {"epochs": 2}}
    local = run_with_artifacts(**text, options={**options, "local": {"threads": 1}},
                               workers=1, cache_dir=tmp_path / "local")
    remote = run_with_artifacts(**text, options={**options, "ray": {"cpus_per_task": 1}},
                                executor="ray", cache_dir=tmp_path / "ray")
    first, second = cache_files(tmp_path / "local"), cache_files(tmp_path / "ray")
    assert len(first) == 3 and first.keys() == second.keys()
    for name, state in first.items():
        for key, weight in state.items():
            assert torch.equal(weight, second[name][key]), (name, key)
    assert local.result.attacks[0].metrics == remote.result.attacks[0].metrics
    assert torch.equal(local.artifacts.scores["lira"], remote.artifacts.scores["lira"])
    assert remote.result.models_trained == 3
