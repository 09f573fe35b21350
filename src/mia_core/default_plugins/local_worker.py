"""A local worker process: armed to die with its driver before it imports anything, then
loads the task it is sent and trains the groups of jobs it is handed, one at a time.

The driver (:mod:`mia_core.default_plugins.local_executor`) starts ``python -c BOOT`` with
the driver's pid and the two pipe ends as arguments.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import torch

from mia_core.errors import MiaError, describe
from mia_core.training.executors import TrainTask, train_packed

# A worker's first instructions, run by a fresh interpreter before it imports torch, mia-core
# or a plugin (seconds on a busy machine): die with the driver, leave Ctrl-C to the driver, end
# quietly on SIGTERM; only then import and serve. On Linux a parent-death signal, armed and
# then checked against the driver's pid (a driver that died first is caught too); elsewhere a
# thread watching the parent pid. argv: driver pid, job pipe fd, result pipe fd.
BOOT = """\
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(128 + signum))
parent = int(sys.argv[1])
armed = False
if sys.platform.startswith("linux"):
    try:
        import ctypes
        armed = ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL) == 0
    except (OSError, AttributeError):
        pass
if os.getppid() != parent:
    os._exit(1)
if not armed:
    import threading, time
    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, name="mia-parent-watch", daemon=True).start()
del armed, parent
from mia_core.default_plugins.local_worker import worker_main
worker_main(int(sys.argv[2]), int(sys.argv[3]))
"""


def worker_main(jobs_fd: int, results_fd: int) -> None:
    """One worker process (started by :data:`BOOT`): load the task, then train each group the
    driver sends until it sends ``None``.

    Each worker has its own pipes, written synchronously: a worker killed mid-message then
    leaves the driver an end-of-file, never a half-held lock that blocks the others (as a
    shared ``multiprocessing.Queue`` would). It ends quietly when the driver stops it
    (SIGTERM), closes the pipes, or dies, and never trains on for a driver that is gone."""
    import multiprocessing
    from multiprocessing.connection import Connection

    import torch.multiprocessing  # noqa: F401  (rebuilds the data's shared tensors)

    jobs = Connection(jobs_fd, writable=False)
    results = Connection(results_fd, readable=False)
    try:
        # the driver's authkey (to fetch shared tensors from it) and sys.path, then the task
        authkey, path = jobs.recv()
        multiprocessing.current_process().authkey = authkey
        sys.path[:] = path
        try:
            task, device, threads = jobs.recv()
        except Exception as exc:  # the target plugin (or the task) does not load here
            results.send(("error", None, "a local worker could not load the task (the target "
                          "plugin must be importable by a new Python process: installed, or "
                          f"on sys.path): {describe(exc)}"))
            return
        _serve(task, device, threads, jobs, results)
    except (EOFError, OSError):  # the driver is gone: nobody to report to
        os._exit(0)


def _serve(task: TrainTask, device: torch.device, threads: int, jobs: Any,
           results: Any) -> None:
    results.send(("ready", None, None))  # started: the task and the target plugin loaded
    while (item := jobs.recv()) is not None:
        number, group = item
        try:
            packed = train_packed(task, group, device, threads)
        except MiaError as exc:
            results.send(("error", number, str(exc)))
            return
        except BaseException as exc:  # reported to the driver, which stops the run
            results.send(("error", number, f"{task.who} failed for reference model "
                          f"{group[0].number + 1}: {describe(exc)}"))
            return
        results.send(("done", number, packed))
