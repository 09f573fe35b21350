"""The local Ray instance's watchdog: when the driver that started it dies, the instance dies.

``ray.shutdown()`` stops a local instance when the run ends or is stopped by a signal it can
handle. A driver killed with SIGKILL runs no cleanup, and some of Ray's processes (its agents)
then live on for minutes, one of them listening on 127.0.0.1. This process, started beside
the instance, notes every process the driver started (the instance's processes, their
workers and agents: all its descendants, with their start times so a reused pid is never
hit) and, once the driver is gone, ends those still running: SIGTERM, then SIGKILL after a
few seconds. When the driver writes ``done`` to it, the run ended normally and the watchdog
just leaves (an end-of-file alone is no release: a dying driver's pipe closes too). The processes
are also marked: the driver starts the instance with ``MIA_RAY_WATCHDOG=PID:START`` in its
environment, which every process of the instance inherits, so one started just before the
driver died (between two looks at its descendants) is found by the mark. Linux only (it reads
/proc); a cluster the user joined is never watched.

The watchdog imports the standard library only, so it starts in a fraction of a second on a
busy machine; it says ``watching`` on stdout once it watches, before the driver starts Ray:

    python -I -S watchdog.py DRIVER_PID DRIVER_START_TIME
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

POLL_S = 0.25
RELEASE = "done"
WATCHING = "watching"
MARK = "MIA_RAY_WATCHDOG"
GRACE_S = 3.0


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (None when it is gone or a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


def parents() -> dict[int, int]:
    """pid -> parent pid for every process."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            found[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return found


def descendants(roots: set[int]) -> set[int]:
    tree = parents()
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = {pid for pid, parent in tree.items() if parent in frontier} - found
        found |= frontier
    return found


def mark_of(driver: int, born: int | None) -> str:
    """The mark a driver's instance carries: ``PID:START`` (a reused pid is another mark)."""
    return f"{driver}:{born}"


def marked(token: str) -> dict[int, int]:
    """pid -> start time of every running process whose environment holds ``MARK=token``."""
    needle = f"{MARK}={token}".encode()
    found = {}
    for path in Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle not in path.read_bytes().split(b"\0"):
                continue
        except OSError:
            continue
        pid = int(path.parent.name)
        started = start_time(pid)
        if started is not None and pid != os.getpid():
            found[pid] = started
    return found


def watch(driver: int, born: int | None, released: threading.Event) -> dict[int, int]:
    """Note the driver's descendants until it dies or releases the watchdog."""
    known: dict[int, int] = {}
    while not released.is_set() and start_time(driver) == born and born is not None:
        for pid in descendants({driver}) - {driver, os.getpid()}:
            started = start_time(pid)
            if started is not None:
                known.setdefault(pid, started)
        time.sleep(POLL_S)
    return known


def end(known: dict[int, int]) -> None:
    """SIGTERM every noted process still alive (same start time), SIGKILL after the grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        living = [pid for pid, started in known.items() if start_time(pid) == started]
        for pid in living:
            try:
                os.kill(pid, sig)
            except OSError:
                continue
        deadline = time.monotonic() + GRACE_S
        while sig == signal.SIGTERM and time.monotonic() < deadline and any(
                start_time(pid) == known[pid] for pid in living):
            time.sleep(0.1)


def main(argv: list[str]) -> int:
    driver, born = int(argv[0]), int(argv[1])
    released = threading.Event()

    def wait_for_release() -> None:
        if sys.stdin.read().strip() == RELEASE:  # read() ends at EOF: a release, or a death
            released.set()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the driver's
    threading.Thread(target=wait_for_release, daemon=True).start()
    print(WATCHING, flush=True)
    known = watch(driver, born, released)
    if not released.is_set():
        end({**known, **marked(mark_of(driver, born))})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
