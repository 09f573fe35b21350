"""How long runs end: real ``mia-run`` processes, real signals, real worker processes.

SIGTERM (a batch scheduler's stop) behaves like Ctrl-C: exit 143, one line saying what was
kept, no traceback, no worker left, and a rerun trains exactly the rest. A driver killed with
SIGKILL takes its workers with it (parent-death signal) instead of leaving them to train for
nobody. And the runs that must not start at all: usage errors found before any work, and
bad data blamed on the plugin that gave it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

MIA_RUN = str(Path(sys.executable).with_name("mia-run"))
REFERENCE_MODELS = 8
ARGS = ["--dataset", "blobs", "--target", "cnn", "-o", "target.epochs=4", "--members", "300",
        "--attack", "lira", "--reference-models", str(REFERENCE_MODELS), "--workers", "2",
        "-o", "local.threads=1"]


def children(pid: int) -> set[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def start(tmp_path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MIA_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.Popen([MIA_RUN, *ARGS, *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)


def wait_for(process: subprocess.Popen, text: str, timeout: float = 120) -> str:
    """Read stderr until a line holds ``text``; the lines read so far."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    process.kill()
    pytest.fail(f"never saw {text!r}; stderr was:\n{''.join(seen)}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_like_ctrl_c_and_a_rerun_trains_only_the_rest(tmp_path):
    process = start(tmp_path)
    wait_for(process, "reference model")  # the workers are training
    wait_for(process, " done: 1/")
    workers = children(process.pid)
    assert len(workers) >= 2
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 143, rest
    assert "Traceback" not in rest and "BrokenPipe" not in rest
    last = rest.strip().splitlines()[-1]
    assert last.startswith("Error: stopped by SIGTERM; the ") and "a rerun trains only the " \
        "rest" in last
    kept = int(last.split("; the ")[1].split()[0]) - 1  # the target was trained first
    assert gone_within(workers, 60)
    again = start(tmp_path, "--json", "-q")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    result = json.loads(out)
    assert result["models_from_cache"] == 1 + kept
    assert result["models_trained"] == REFERENCE_MODELS - kept


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_driver_takes_its_workers_with_it(tmp_path):
    process = start(tmp_path, "--no-cache")
    wait_for(process, "reference model")
    deadline = time.monotonic() + 30
    while len(workers := children(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) >= 2
    process.kill()
    process.wait(timeout=60)
    assert gone_within(workers, 60)


def gone_within(pids: set[int], seconds: float) -> bool:
    """Whether every one of ``pids`` has ended before ``seconds`` (a generous deadline for a
    busy machine: checked against the event, never a fixed sleep)."""
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids) == set()


# A target whose module takes two minutes to import in a worker (a process whose parent is not
# the test), as a big plugin or a busy machine can: the driver imports it at once.
SLOW_IMPORT = """
import os
import time

if os.getppid() != int(os.environ["MIA_TEST_TESTER"]):
    time.sleep(120)

from mia_cnn_target.plugin import CnnOptions, CnnTarget
from mia_core import hookimpl


class SlowCnn(CnnTarget):
    pass


@hookimpl
def register_targets(register):
    register("slow-cnn", SlowCnn, options=CnnOptions)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_driver_killed_while_its_workers_start_takes_them_with_it(tmp_path):
    """Workers are armed to die with the driver before they import anything: a driver
    killed while they are still importing the target plugin leaves none of them behind."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "mia_slow_import.py").write_text(SLOW_IMPORT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MIA_TEST_TESTER": str(os.getpid()),
           "PYTHONPATH": os.pathsep.join([str(modules), os.environ.get("PYTHONPATH", "")])}
    args = [a if a != "cnn" else "slow-cnn" for a in ARGS]
    process = subprocess.Popen([MIA_RUN, *args, "-p", "mia_slow_import", "--no-cache"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=tmp_path)
    wait_for(process, "worker processes")  # the driver starts them now
    deadline = time.monotonic() + 60
    while len(workers := children(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers) >= 2
    time.sleep(1)  # each is in its import by now (or still starting: armed either way)
    assert alive(workers) == workers  # still importing: not a worker that simply finished
    process.kill()
    process.wait(timeout=60)
    assert gone_within(workers, 60)  # without the parent-death signal: 120 s


BLOBS = ["--dataset", "blobs", "--target", "cnn", "-o", "target.epochs=1", "--members", "100",
         "-q", "--no-cache"]


def invoke(*args):
    from click.testing import CliRunner

    from mia_core.cli.mia_run import run

    return CliRunner().invoke(run, list(args))


def test_an_output_that_is_a_file_is_bad_input(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("mine")
    result = invoke(*BLOBS, "--attack", "loss-threshold", "--output", str(path))
    assert result.exit_code == 2 and "exists and is not a folder" in result.output
    assert path.read_text() == "mine"


def test_canaries_without_an_attack_that_scores_them_fail_before_training(monkeypatch):
    from mia_core.experiment import run as run_module

    def never(*args, **kwargs):
        raise AssertionError("data were loaded: the check came too late")

    monkeypatch.setattr(run_module, "load_data", never)
    result = invoke(*BLOBS, "--attack", "lira", "--attack", "rmia", "--canaries", "20")
    assert result.exit_code == 2, result.output
    assert "--canaries 20: no attack here can score the canaries (lira, rmia train" in \
        result.output


BAD_LABELS = """
import torch
from mia_core import LabeledData, hookimpl

class BadLabels:
    def load(self, env):
        return LabeledData(torch.zeros(8, 3), torch.arange(8) + 5, num_classes=10)

@hookimpl
def register_datasets(register):
    register("bad-labels", BadLabels)
"""


def test_bad_labels_name_the_dataset_plugin():
    from tests.conftest import make_module

    make_module("mia_test_bad_labels", BAD_LABELS)
    result = invoke("--dataset", "bad-labels", "--attack", "loss-threshold", "-p",
                    "mia_test_bad_labels", "-q")
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: dataset 'bad-labels' (plugin 'mia_test_bad_labels')"
                                     ": labels must lie in [0, 10)")


def test_the_json_reporter_without_a_folder_fails_before_training(monkeypatch):
    from mia_core.experiment import run as run_module

    monkeypatch.setattr(run_module, "load_data", lambda *a, **k: pytest.fail("too late"))
    result = invoke(*BLOBS, "--attack", "loss-threshold", "--reporter", "json")
    assert result.exit_code == 2 and "add --output DIR" in result.output


def test_a_failure_after_a_stop_request_exits_as_the_stop(monkeypatch, capsys):
    # Ray's workers vanish under a SIGTERM and its client then raises its own error: the
    # exit code must still say "stopped by SIGTERM", not 1
    import pytest

    from mia_core.cli import errors as cli_errors
    from mia_core.errors import MiaError, Stopped

    monkeypatch.setattr(cli_errors, "_received", [Stopped(signal.SIGTERM)])
    for failure in (MiaError("ray executor failed: a worker died"), RuntimeError("gone")):
        with pytest.raises(SystemExit) as ended, cli_errors.user_errors(debug=False):
            raise failure
        assert ended.value.code == 143
        assert capsys.readouterr().err == "Error: stopped by SIGTERM\n"
    monkeypatch.setattr(cli_errors, "_received", [])
    with pytest.raises(SystemExit) as ended, cli_errors.user_errors(debug=False):
        raise MiaError("a plain failure")
    assert ended.value.code == 1
