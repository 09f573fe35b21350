"""What parallel reference-model training can gain on this CPU, before any executor overhead.

Trains LeNet (the ``cnn`` target's recipe, batch 256) on 12,000 synthetic 28x28 images in fresh
processes: one process with all threads, one with one thread, and one one-thread process per
core side by side. The ratio of the last to the first is the ceiling for ``--workers N`` with
one thread each (worker and Ray startup come on top; see reference_models.py).

    python benchmarks/thread_scaling.py [--precision auto|fp32|bf16] [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

CHILD = """
import sys, time, torch
from mia_core import LabeledData, TrainEnv
from mia_core.training.fit import seeded
from mia_cnn_target.plugin import CnnOptions, CnnTarget
threads, precision, epochs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
g = torch.Generator().manual_seed(0)
data = LabeledData(torch.rand(12000, 1, 28, 28, generator=g),
                   torch.randint(0, 10, (12000,), generator=g), 10)
target = CnnTarget(CnnOptions(epochs=1, precision=precision))
with seeded(0):
    target.fit(data, TrainEnv(torch.device("cpu"), 0))  # warm-up
start = time.perf_counter()
with seeded(1):
    CnnTarget(CnnOptions(epochs=epochs, precision=precision)).fit(data, TrainEnv(
        torch.device("cpu"), 1))
print(12000 * epochs / (time.perf_counter() - start))
"""


def images_per_second(threads: int, processes: int, precision: str, epochs: int) -> float:
    """Total training images/s of ``processes`` side by side with ``threads`` each."""
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(threads), precision,
                                  str(epochs)], stdout=subprocess.PIPE, text=True)
                for _ in range(processes)]
    return sum(float(c.communicate()[0]) for c in children)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    started = time.perf_counter()
    together = images_per_second(cores, 1, args.precision, args.epochs)
    single = images_per_second(1, 1, args.precision, args.epochs)
    apart = images_per_second(1, cores, args.precision, args.epochs)
    print(f"precision {args.precision}, {cores} cores ({time.perf_counter() - started:.0f} s)")
    print(f"1 process x {cores} threads: {together:,.0f} images/s")
    print(f"1 process x 1 thread:      {single:,.0f} images/s")
    print(f"{cores} processes x 1 thread:  {apart:,.0f} images/s "
          f"(ceiling for {cores} workers: {apart / together:.2f}x)")


if __name__ == "__main__":
    main()
