"""Where reference models are trained: the executor plugin kind and the built-in ``local`` one.

The core decides *what* each reference model is (its records and seed follow from the
experiment config alone); an executor decides *where* it is trained: in this process, in
worker processes, on a Ray cluster. A job's weights depend only on the job and on the torch
threads per training, so executors can be swapped and share one model cache. Executors hand
back state dicts (or, in this process, the modules themselves); the driver rebuilds and caches
each model as soon as it arrives, so an interrupted run keeps every finished one.
"""

from __future__ import annotations

import io
import signal
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import torch
from torch import nn

from mia_core.data import LabeledData
from mia_core.errors import MiaError, PluginError, TrainingDiverged
from mia_core.options import option
from mia_core.progress import QUIET, Progress
from mia_core.training.fit import TrainEnv, TrainRecipe, seeded

# Starting a worker process (importing torch and the plugins) costs a few seconds; below this
# much work per model (records x epochs) the models train faster in this process.
PARALLEL_WORK = 20_000
CUDA_BATCH = 8  # models trained at once on one GPU when the target allows it


@attrs.frozen(eq=False)
class TrainJob:
    """One reference model to train: ``records`` index :attr:`TrainTask.data`."""

    number: int  # reference model i, 0-based
    records: torch.Tensor
    seed: int


@attrs.frozen(eq=False)
class TrainTask:
    """What every job of a run shares; picklable, sent once to each worker.

    ``target`` is the target plugin's instance (built with its options) and ``who`` names it
    in errors. ``fit()`` trains one model; a target that also has ``build(data)`` and
    ``recipe()`` promises that ``fit`` is ``fit_classifier(build(data), data, recipe(), env)``,
    which lets executors train several of its models at once (:meth:`batchable`).
    """

    target: Any
    who: str
    data: LabeledData

    def portable(self) -> bool:
        """Whether the driver can rebuild this target's models from state dicts (``build``),
        which training anywhere but in this process needs."""
        return callable(getattr(self.target, "build", None))

    def batchable(self) -> bool:
        recipe = getattr(self.target, "recipe", None)
        if not callable(recipe) or not callable(getattr(self.target, "build", None)):
            return False
        made = recipe()
        return isinstance(made, TrainRecipe) and not made.dp

    def work_per_model(self, jobs: Sequence[TrainJob]) -> int:
        """Records x epochs of the largest job (epochs 1 when the target has no recipe)."""
        recipe = getattr(self.target, "recipe", None)
        made = recipe() if callable(recipe) else None
        epochs = made.epochs if isinstance(made, TrainRecipe) else 1
        return epochs * max((len(j.records) for j in jobs), default=0)

    def train(self, job: TrainJob, device: torch.device, progress: Progress = QUIET) -> nn.Module:
        """The target plugin's ``fit`` on the job's records, seeded like the target's own."""
        data = self.data.subset(job.records)
        with seeded(job.seed):
            model = self._call("fit", job, data, TrainEnv(device, job.seed, progress))
        if not isinstance(model, nn.Module):
            raise PluginError(f"{self.who} fit() returned {type(model).__name__}, not a "
                              "torch.nn.Module")
        return model

    def train_batch(self, jobs: Sequence[TrainJob], device: torch.device) -> list[nn.Module]:
        """Several jobs at once with ``torch.func`` (equal to :meth:`train` up to rounding)."""
        from mia_core.training.batched import fit_classifiers_batched

        datasets = [self.data.subset(j.records) for j in jobs]
        models = []
        for job, data in zip(jobs, datasets, strict=True):
            with seeded(job.seed):  # the initial weights fit() would have drawn
                models.append(self._call("build", job, data))
        return fit_classifiers_batched(models, datasets, self.target.recipe(),
                                       [j.seed for j in jobs], device)

    def train_group(self, jobs: Sequence[TrainJob], device: torch.device,
                    progress: Progress = QUIET) -> list[nn.Module]:
        if len(jobs) > 1 and self.batchable():
            return self.train_batch(jobs, device)
        return [self.train(j, device, progress) for j in jobs]

    def _call(self, method: str, job: TrainJob, *args: Any) -> Any:
        try:
            return getattr(self.target, method)(*args)
        except TrainingDiverged as exc:
            raise PluginError(f"{self.who}: {exc} (reference model {job.number + 1})") from exc
        except MiaError:
            raise
        except (Exception, SystemExit) as exc:
            raise PluginError(f"{self.who} failed in {method}() for reference model "
                              f"{job.number + 1}: {type(exc).__name__}: {exc}") from exc


@attrs.frozen
class ExecEnv:
    """What the core gives an executor's ``run``."""

    device: torch.device  # the run's device (--device)
    threads: int  # torch threads of this process (--threads, or torch's default)
    workers: int  # --workers; 0: the executor chooses
    progress: Progress = QUIET


Trained = nn.Module | Mapping[str, torch.Tensor]


def pack_state(model: nn.Module) -> bytes:
    """A model's weights as bytes (a plain state dict, no pickled objects)."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def unpack_state(data: bytes) -> dict[str, torch.Tensor]:
    """The inverse of :func:`pack_state`, refusing anything but tensors (``weights_only``)."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def train_packed(task: TrainTask, jobs: Sequence[TrainJob], device: torch.device,
                 threads: int) -> list[bytes]:
    """Worker side, for any executor: train a group of jobs with ``threads`` torch threads and
    return their weights as bytes, in the jobs' order."""
    torch.set_num_threads(threads)
    return [pack_state(m) for m in task.train_group(jobs, device)]


def groups(jobs: Sequence[TrainJob], size: int) -> list[list[TrainJob]]:
    """Consecutive groups of ``size`` jobs (the last may be smaller)."""
    return [list(jobs[i:i + size]) for i in range(0, len(jobs), size)]


def resolve_batch(batch: int, task: TrainTask, device: torch.device) -> int:
    """Models per group: ``batch`` when given, else several on CUDA for targets that allow it
    (on the CPU, batched training measured slower than one model after another)."""
    if batch:
        return batch
    return CUDA_BATCH if device.type == "cuda" and task.batchable() else 1


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


def _worker_main(task: TrainTask, device: torch.device, threads: int, jobs: Any,
                 results: Any) -> None:
    """One worker process: train each group the driver sends until it sends ``None``.

    Each worker has its own pipes, written synchronously: a worker killed mid-message then
    leaves the driver an end-of-file, never a half-held lock that blocks the others (as a
    shared ``multiprocessing.Queue`` would)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    results.send(("ready", None, None))  # started: the task and the target plugin imported
    while (item := jobs.recv()) is not None:
        number, group = item
        try:
            packed = train_packed(task, group, device, threads)
        except MiaError as exc:
            results.send(("error", number, str(exc)))
            return
        except BaseException as exc:  # reported to the driver, which stops the run
            results.send(("error", number, f"{task.who} failed for reference model "
                          f"{group[0].number + 1}: {type(exc).__name__}: {exc}"))
            return
        results.send(("done", number, packed))


class WorkerDied(MiaError):
    """A worker process ended without finishing its job (killed, out of memory, crashed)."""


@attrs.define
class _Worker:
    process: Any
    jobs: Any  # the driver's end of the job pipe
    results: Any  # the driver's end of the result pipe
    group: int | None = None  # the group it is training
    started: bool = False


def _in_workers(task: TrainTask, work: list[list[TrainJob]], env: ExecEnv, workers: int,
                threads: int) -> Iterator[tuple[TrainJob, Trained]]:
    """Hand one group at a time to each worker and the next as soon as it is done."""
    from multiprocessing.connection import wait

    import torch.multiprocessing as mp  # shares the data's tensors instead of copying them

    context = mp.get_context("spawn")  # CUDA cannot be used in forked processes
    waiting = list(reversed(range(len(work))))
    pool: list[_Worker] = []
    try:
        for w in range(workers):
            job_in, job_out = context.Pipe(duplex=False)
            result_in, result_out = context.Pipe(duplex=False)
            process = context.Process(target=_worker_main, daemon=True,
                                      name=f"mia-worker-{w + 1}",
                                      args=(task, _worker_device(env.device, w), threads,
                                            job_in, result_out))
            process.start()
            job_in.close()  # the worker's ends: closed here, so its death reads as EOF
            result_out.close()
            pool.append(_Worker(process, job_out, result_in))
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
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in pool:
            worker.process.join(timeout=10)
            worker.jobs.close()
            worker.results.close()


def _hand_out(worker: _Worker, waiting: list[int], work: list[list[TrainJob]]) -> None:
    """The next group to ``worker``, or ``None`` (stop) when there is none."""
    worker.group = waiting.pop() if waiting else None
    try:
        worker.jobs.send(None if worker.group is None else (worker.group, work[worker.group]))
    except OSError:  # it is gone already (e.g. could not import the target plugin)
        raise _died(worker, work) from None


def _died(worker: _Worker, work: list[list[TrainJob]]) -> WorkerDied:
    process = worker.process
    process.join(timeout=5)
    code = process.exitcode
    how = f"was killed by signal {-code}" if code and code < 0 else f"exited with {code}"
    group = work[worker.group] if worker.group is not None else []
    names = ", ".join(str(j.number + 1) for j in group)
    doing = (f"while training reference model {names} (seed {group[0].seed})"
             if worker.started and group else
             "while starting (could it import the target plugin? Its error is shown above)")
    return WorkerDied(f"local worker {process.name.rsplit('-', 1)[1]} (pid {process.pid}) {how} "
                      f"{doing}; the models finished before are kept in the model cache, so a "
                      "rerun trains only the rest (--workers 1 trains in this process)")


def run_jobs(executor: Any, name: str, task: TrainTask, jobs: Sequence[TrainJob],
             env: ExecEnv) -> Iterator[tuple[TrainJob, Trained]]:
    """Run ``jobs`` on ``executor`` (called ``name``), checking that it returns each job once,
    as a module or a state dict; a crash inside it is reported as the executor's."""
    who = f"executor '{name}'"
    expected = {j.number for j in jobs}
    try:
        for job, trained in executor.run(task, jobs, env):
            number = getattr(job, "number", None)
            if number not in expected:
                raise PluginError(f"{who} returned {job!r}, which was not asked for or was "
                                  "returned twice")
            if not isinstance(trained, nn.Module | Mapping):
                raise PluginError(f"{who} returned {type(trained).__name__} for reference "
                                  f"model {number + 1}; expected a state dict or a "
                                  "torch.nn.Module")
            expected.discard(number)
            yield job, trained
    except MiaError:
        raise
    except Exception as exc:
        raise PluginError(f"{who} failed: {type(exc).__name__}: {exc}") from exc
    if expected:
        missing = ", ".join(str(n + 1) for n in sorted(expected))
        raise PluginError(f"{who} finished without reference model(s) {missing}")
