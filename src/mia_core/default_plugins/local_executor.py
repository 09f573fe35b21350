"""The built-in ``local`` executor: reference models in this process or in worker processes.

Each worker is a new Python process (:data:`BOOT`: armed to die with the driver before it
imports anything) with its own pair of pipes and its share of the CPU threads; the driver
hands out one group of jobs at a time and takes weights back as bytes of a plain state dict.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs
import torch

from mia_core.default_plugins.local_worker import BOOT
from mia_core.errors import MiaError, PluginError
from mia_core.hookspecs import hookimpl
from mia_core.options import option
from mia_core.training.executors import (
    ExecEnv,
    Trained,
    TrainJob,
    TrainTask,
    groups,
    resolve_batch,
    unpack_state,
)

# Starting a worker process (importing torch and the plugins) costs a few seconds; below this
# much work per model (records x epochs) the models train faster in this process.
PARALLEL_WORK = 20_000


@attrs.frozen
class LocalOptions:
    threads: int = option(0, "torch threads per worker (0: the run's threads shared out among "
                          "the workers)", attrs.validators.ge(0))
    batch: int = option(0, "models trained at once per worker with torch.func (0: 8 on CUDA "
                        "for targets with build() and recipe(), else 1)", attrs.validators.ge(0))


class LocalExecutor:
    """Trains in this process (one worker) or in worker processes on this machine.

    ``--workers 0`` (auto): on the CPU one worker per thread of the run when at least two
    models need training and each is big enough to outweigh starting a process
    (:data:`PARALLEL_WORK`); on CUDA one worker per visible GPU, jobs going round-robin.
    """

    def __init__(self, options: LocalOptions) -> None:
        self.options = options

    def workers(self, task: TrainTask, jobs: Sequence[TrainJob], env: ExecEnv) -> int:
        batch = resolve_batch(self.options.batch, task, env.device)
        count = len(groups(jobs, batch))
        if not task.portable():
            if env.workers > 1:
                env.progress.message(f"note: {task.who} has no build() method, so its models "
                                     "are trained in this process (--workers ignored)")
            return 1
        if env.workers:
            return max(1, min(env.workers, count))
        if env.device.type == "cuda":
            gpus = torch.cuda.device_count() if env.device.index is None else 1
            return max(1, min(gpus, count))
        if env.device.type != "cpu" or task.work_per_model(jobs) < PARALLEL_WORK:
            return 1
        return max(1, min(env.threads, count))

    def run(self, task: TrainTask, jobs: Sequence[TrainJob],
            env: ExecEnv) -> Iterator[tuple[TrainJob, Trained]]:
        batch = resolve_batch(self.options.batch, task, env.device)
        workers = self.workers(task, jobs, env)
        threads = self.options.threads or max(1, env.threads // workers)
        if workers == 1:
            yield from _in_process(task, groups(jobs, batch), env, threads)
        else:
            env.progress.message(f"training {len(jobs)} reference models in {workers} worker "
                                 f"processes, {threads} thread(s) each")
            yield from _in_workers(task, groups(jobs, batch), env, workers, threads)


def _in_process(task: TrainTask, work: Iterable[list[TrainJob]], env: ExecEnv,
                threads: int) -> Iterator[tuple[TrainJob, Trained]]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for group in work:
            yield from zip(group, task.train_group(group, env.device, env.progress),
                           strict=True)
    finally:
        torch.set_num_threads(before)


def _worker_device(device: torch.device, worker: int) -> torch.device:
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", worker % torch.cuda.device_count())
    return device


class WorkerDied(MiaError):
    """A worker process ended without finishing its job (killed, out of memory, crashed)."""


@attrs.define
class _Worker:
    number: int  # 1-based, for messages
    process: subprocess.Popen
    jobs: Any  # the driver's end of the job pipe
    results: Any  # the driver's end of the result pipe
    group: int | None = None  # the group it is training
    started: bool = False


def _start_worker(number: int) -> _Worker:
    """A worker process, armed by :data:`BOOT` to die with the driver before it imports
    anything; :func:`_send_task` then tells it what to do."""
    from multiprocessing.connection import Connection

    job_read, job_write = os.pipe()
    result_read, result_write = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", BOOT, str(os.getpid()), str(job_read), str(result_write)],
            pass_fds=(job_read, result_write), stdin=subprocess.DEVNULL)
    except BaseException:
        for fd in (job_read, job_write, result_read, result_write):
            os.close(fd)
        raise
    os.close(job_read)  # the worker's ends: closed here, so its death reads as EOF
    os.close(result_write)
    return _Worker(number, process, Connection(job_write, readable=False),
                   Connection(result_read, writable=False))


def _send_task(worker: _Worker, task: TrainTask, device: torch.device, threads: int) -> None:
    """The driver's authkey and sys.path (plain values, read first), then the task."""
    import multiprocessing

    import torch.multiprocessing  # noqa: F401  (shares the data's tensors, never copies them)

    try:
        worker.jobs.send((bytes(multiprocessing.current_process().authkey), list(sys.path)))
        worker.jobs.send((task, device, threads))
    except OSError:  # it died before reading: its end-of-file is read and reported later
        pass


def _in_workers(task: TrainTask, work: list[list[TrainJob]], env: ExecEnv, workers: int,
                threads: int) -> Iterator[tuple[TrainJob, Trained]]:
    """Hand one group at a time to each worker and the next as soon as it is done."""
    from multiprocessing.connection import wait

    waiting = list(reversed(range(len(work))))
    pool: list[_Worker] = []
    try:
        pool.extend(_start_worker(w + 1) for w in range(workers))  # they start side by side
        for w, worker in enumerate(pool):
            _send_task(worker, task, _worker_device(env.device, w), threads)
        for worker in pool:
            _hand_out(worker, waiting, work)
        left = len(work)
        while left:
            for conn in wait([w.results for w in pool if w.group is not None]):
                worker = next(w for w in pool if w.results is conn)
                try:
                    kind, number, payload = conn.recv()
                except (EOFError, OSError):
                    raise _died(worker, work) from None
                if kind == "ready":
                    worker.started = True
                    continue
                if kind == "error":
                    raise PluginError(payload)
                left -= 1
                _hand_out(worker, waiting, work)
                yield from zip(work[number], map(unpack_state, payload), strict=True)
    finally:
        for worker in pool:
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in pool:
            try:
                worker.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.jobs.close()
            worker.results.close()


def _hand_out(worker: _Worker, waiting: list[int], work: list[list[TrainJob]]) -> None:
    """The next group to ``worker``, or ``None`` (stop) when there is none."""
    worker.group = waiting.pop() if waiting else None
    try:
        worker.jobs.send(None if worker.group is None else (worker.group, work[worker.group]))
    except OSError:  # it is gone already
        raise _died(worker, work) from None


def _died(worker: _Worker, work: list[list[TrainJob]]) -> WorkerDied:
    process = worker.process
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    code = process.returncode
    how = f"was killed by signal {-code}" if code and code < 0 else f"exited with {code}"
    group = work[worker.group] if worker.group is not None else []
    names = ", ".join(str(j.number + 1) for j in group)
    doing = (f"while training reference model {names} (seed {group[0].seed})"
             if worker.started and group else
             "while starting (its error, if any, is shown above)")
    return WorkerDied(f"local worker {worker.number} (pid {process.pid}) {how} "
                      f"{doing}; the models finished before are kept in the model cache, so a "
                      "rerun trains only the rest (--workers 1 trains in this process)")


@hookimpl
def register_executors(register):
    register("local", LocalExecutor, description="Reference models in this process or in "
             "--workers N worker processes on this machine (round-robin over GPUs)",
             options=LocalOptions)
