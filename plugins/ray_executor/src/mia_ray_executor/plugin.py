"""The ``ray`` executor: each group of reference models is one Ray task.

Ray runs one worker process per reserved CPU on a laptop and the same tasks on a cluster of
GPU nodes. The training data goes into Ray's object store once per run; a task gets the
target plugin's instance and the jobs' record indices and seeds, trains with the core's own
``train_packed`` and returns plain state dicts as bytes (no pickled modules), which the driver
writes to its model cache as each task finishes. Ray retries a task whose worker process dies.

Without an address, a Ray instance is started for the run on 127.0.0.1 only and shut down at
the end: whoever can reach a Ray instance can run code on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import torch

from mia_core import (
    ExecEnv,
    MiaError,
    PluginError,
    TrainJob,
    TrainTask,
    groups,
    hookimpl,
    option,
    positive,
    resolve_batch,
    stopped_inside,
    train_packed,
    unpack_state,
)
from mia_ray_executor import watchdog  # standard library only

LOOPBACK = "127.0.0.1"
CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
NICENESS = "RAY_worker_niceness"  # read by the raylet when it starts


@attrs.frozen
class RayOptions:
    address: str = option("", "Ray cluster to join (e.g. auto or ray://head:10001); empty: "
                          "$RAY_ADDRESS, else a local instance on 127.0.0.1 for this run")
    cpus_per_task: float = option(1.0, "CPUs each task reserves (its torch threads: the whole "
                                  "part, at least 1)", positive)
    gpus_per_task: float = option(1.0, "GPUs each task reserves when --device is CUDA; "
                                  "fractions pack several tasks onto one GPU", positive)
    batch: int = option(0, "models per task, trained at once with torch.func (0: 8 on CUDA "
                        "for targets with build() and recipe(), else 1)", attrs.validators.ge(0))
    cpus: int = option(0, "CPUs a local instance may use (0: all of this machine's)",
                       attrs.validators.ge(0))
    max_retries: int = option(3, "times a task is rerun when its worker process dies",
                              attrs.validators.ge(0))


class RayExecutor:
    """Reference models as Ray tasks; ``--workers N`` caps the tasks in flight (0: as many as
    the cluster's resources allow)."""

    def __init__(self, options: RayOptions) -> None:
        self.options = options
        address = options.address or os.environ.get("RAY_ADDRESS", "")
        problem = _unreachable(address) if address else None
        if problem:  # now, before any training, and not after Ray's minutes of retries
            raise MiaError(f"cannot join the Ray cluster at {address}: {problem}; start it "
                           "(ray start --head) or fix -o ray.address / $RAY_ADDRESS")

    def run(self, task: TrainTask, jobs: Sequence[TrainJob],
            env: ExecEnv) -> Iterator[tuple[TrainJob, Any]]:
        if not task.portable():
            raise MiaError(f"{task.who} has no build() method, so its weights cannot come back "
                           "from Ray workers; use --executor local")
        o = self.options
        cuda = env.device.type == "cuda"
        work = groups(jobs, resolve_batch(o.batch, task, env.device))
        with self._session(env, cuda) as (where, local):
            import ray

            env.progress.message(
                f"ray: {where}; {len(jobs)} models in {len(work)} tasks, {o.cpus_per_task:g} "
                f"CPU{'s' if o.cpus_per_task != 1 else ''}" +
                (f" and {o.gpus_per_task:g} GPU" if cuda else "") + " each")
            remote = ray.remote(train_packed).options(
                num_cpus=o.cpus_per_task, num_gpus=o.gpus_per_task if cuda else 0,
                max_retries=o.max_retries, retry_exceptions=False)
            shared = ray.put(task)  # the data travels to the object store once
            device = torch.device("cuda" if cuda else "cpu")
            threads = max(1, int(o.cpus_per_task))
            # a local instance goes down with its workers at the end; cancelling its tasks
            # as well races Ray's own bookkeeping of a task that just finished (a fatal check
            # in its TaskManager, exit 1, seen under SIGTERM), so only a cluster's are cancelled
            yield from _collect(ray, remote, shared, work, device, threads,
                                env.workers or len(work), o.max_retries, task.who,
                                cancel=not local)

    @contextlib.contextmanager
    def _session(self, env: ExecEnv, cuda: bool) -> Iterator[tuple[str, bool]]:
        """Use the Ray connection this process already has, join ``address``, or start a
        local instance; whatever this opened is closed at the end. Yields where it runs and
        whether that is a local instance of its own."""
        import ray

        if ray.is_initialized():
            yield "using this process's Ray connection", False
            return
        address = self.options.address or os.environ.get("RAY_ADDRESS", "")
        if address:
            try:
                with _loopback_stays_loopback():
                    ray.init(address=address, log_to_driver=env.progress.enabled,
                             logging_level=logging.WARNING if env.progress.enabled
                             else logging.ERROR)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise MiaError(f"cannot join the Ray cluster at {address}: "
                               f"{str(exc).splitlines()[0]}") from None
            try:
                yield f"joined the cluster at {address}", False
            finally:
                ray.shutdown()
            return
        gpus = torch.cuda.device_count() if cuda else 0
        with local_instance(self.options.cpus or None, gpus, env.progress.enabled):
            yield f"started a local instance on {LOOPBACK}", True


def _collect(ray: Any, remote: Any, shared: Any, work: list[list[TrainJob]],
             device: torch.device, threads: int, limit: int, retries: int,
             who: str, cancel: bool = True) -> Iterator[tuple[TrainJob, Any]]:
    """Submit at most ``limit`` tasks at a time; yield each model as its task finishes.
    Interrupted or failed, the tasks still running are cancelled when ``cancel``."""
    waiting = list(reversed(work))
    pending: dict[Any, list[TrainJob]] = {}
    try:
        while waiting or pending:
            while waiting and len(pending) < limit:
                group = waiting.pop()
                pending[remote.remote(shared, group, device, threads)] = group
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                group = pending.pop(ref)
                packed = _result(ray, ref, group, retries, who)
                yield from zip(group, map(unpack_state, packed), strict=True)
    finally:  # interrupted or failed: stop what is still running
        for ref in pending if cancel else ():
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


def _result(ray: Any, ref: Any, group: list[TrainJob], retries: int, who: str) -> list[bytes]:
    names = ", ".join(str(j.number + 1) for j in group)
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        stop = stopped_inside(exc)  # a signal that arrived inside ray.get: the run stops
        if stop is not None:
            raise stop from None
        return _failed(ray, exc, names, retries, who)


def _failed(ray: Any, exc: Exception, names: str, retries: int, who: str) -> list[bytes]:
    """Ray's error for one task, as the run's: the plugin's own, or one line naming it."""
    if isinstance(exc, ray.exceptions.RayTaskError):  # the training itself raised
        cause = getattr(exc, "cause", None)
        if isinstance(cause, MiaError):
            raise cause from None
        raise PluginError(f"{who} failed in a Ray task for reference model {names}: "
                          f"{type(cause).__name__ if cause else 'error'}: {cause}") from None
    # the worker or node died more often than retried
    raise MiaError(f"Ray could not finish reference model {names} ({type(exc).__name__}, "
                   f"after {retries} retries); the models finished before are kept in the "
                   "model cache, so a rerun trains only the rest") from None


@contextlib.contextmanager
def local_instance(cpus: int | None = None, gpus: int | None = None,
                   log_to_driver: bool = False) -> Iterator[None]:
    """A Ray instance on this machine, reachable on 127.0.0.1 only, shut down on exit.

    Ray (2.60, Linux) binds the machine's network address even when given 127.0.0.1, unless
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` was in the environment when ray was imported (it
    becomes ``ray_constants.ENABLE_RAY_CLUSTER``). Both are set here, and the address Ray
    took is checked afterwards whatever the Ray version.
    """
    import ray

    guard = _watchdog()  # watching before the first of the instance's processes starts
    joined = os.environ.pop("RAY_ADDRESS", None)  # ray.init() would join it instead
    try:
        with _loopback_stays_loopback(), _marked(guard):
            ray.init(num_cpus=cpus, num_gpus=gpus, include_dashboard=False,
                     _node_ip_address=LOOPBACK, log_to_driver=log_to_driver,
                     logging_level=logging.WARNING if log_to_driver else logging.ERROR)
    except BaseException:
        _release(guard)
        raise
    finally:
        if joined is not None:
            os.environ["RAY_ADDRESS"] = joined
    try:
        where = ray.nodes()[0]["NodeManagerAddress"]
        if where != LOOPBACK:
            raise MiaError(f"the local Ray instance listens on {where}, not {LOOPBACK}; "
                           "stopped it (anyone who can reach a Ray instance can run code on "
                           "it). Start a secured cluster yourself and pass its address")
        yield
    finally:
        ray.shutdown()
        _release(guard)


def _watchdog() -> subprocess.Popen | None:
    """A process that ends the instance's processes if this driver dies without cleanup
    (SIGKILL); in a session of its own, so a terminal's Ctrl-C does not reach it.

    It runs the watchdog file alone (``-I -S``: the standard library only, no plugin, no
    torch), so it starts in a fraction of a second even on a busy machine, and this waits for
    its word that it watches before Ray starts anything: no window in which a killed driver
    leaves an unwatched instance."""
    if not sys.platform.startswith("linux"):
        return None
    born = watchdog.start_time(os.getpid())
    guard = subprocess.Popen([sys.executable, "-I", "-S", watchdog.__file__, str(os.getpid()),
                              str(born)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    ready = guard.stdout.readline()
    if ready.strip() != watchdog.WATCHING.encode():
        guard.kill()
        guard.wait()
        raise MiaError("the Ray watchdog (which ends a local instance whose driver dies) did "
                       f"not start: it said {ready!r}; run `{sys.executable} "
                       f"{watchdog.__file__} {os.getpid()} {born}` to see why")
    return guard


@contextlib.contextmanager
def _marked(guard: subprocess.Popen | None) -> Iterator[None]:
    """While Ray starts, the environment its processes inherit: the watchdog's mark, and
    workers at normal priority. Ray runs its workers at niceness 15 by default, so beside
    any other busy process (another run, a build) the reference models all but stop: on 2
    cores beside two CPU-bound processes a Ray task got 3 % of a core. mia-core's local
    workers run at normal priority too; a ``RAY_worker_niceness`` of the user's wins."""
    saved = {name: os.environ.get(name) for name in (watchdog.MARK, NICENESS)}
    os.environ.setdefault(NICENESS, "0")
    if guard is not None:
        os.environ[watchdog.MARK] = watchdog.mark_of(os.getpid(),
                                                     watchdog.start_time(os.getpid()))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _release(guard: subprocess.Popen | None) -> None:
    """The run ended here, alive: the watchdog leaves without ending anything."""
    if guard is None or guard.poll() is not None:
        return
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        guard.stdin.write(f"{watchdog.RELEASE}\n".encode())
        guard.stdin.close()
        guard.wait(timeout=5)
    guard.stdout.close()


@contextlib.contextmanager
def _loopback_stays_loopback() -> Iterator[None]:
    """While Ray starts or connects: 127.0.0.1 means 127.0.0.1 (Ray on Linux otherwise swaps
    it for the machine's network address, for a new instance and for an address to join).
    The run's own SIGTERM handling stays too: ray.init() would replace it with an exit, and
    its C++ crash handler would turn SIGTERM into an abort with a stack dump."""
    saved = os.environ.get(CLUSTER_SWITCH)
    os.environ[CLUSTER_SWITCH] = "0"
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    handler = signal.getsignal(signal.SIGTERM)
    # a SIGTERM while Ray starts waits until the run's handler is back (Ray's threads,
    # started now, inherit the block: the signal then reaches the main thread)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    from ray._private import ray_constants

    switch = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, TypeError):  # not the main thread / not ours
            signal.signal(signal.SIGTERM, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if switch is not None:
            ray_constants.ENABLE_RAY_CLUSTER = switch
        if saved is None:
            os.environ.pop(CLUSTER_SWITCH, None)
        else:
            os.environ[CLUSTER_SWITCH] = saved


def _unreachable(address: str, timeout: float = 5.0) -> str | None:
    """Why nothing answers at ``host:port`` (``ray://`` too), or ``None``; addresses Ray
    resolves itself (``auto``) are left to Ray."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


@hookimpl
def register_executors(register):
    register("ray", RayExecutor, description="Reference models as Ray tasks: a local "
             "instance on 127.0.0.1, or a cluster (-o ray.address=... or $RAY_ADDRESS)",
             options=RayOptions)
