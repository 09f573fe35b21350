"""What a WRN-28-2 training epoch on CIFAR-10-shaped data costs on this machine, and so what a
paper-scale LiRA / RMIA run would cost.

Times mia-core's own training path (``fit_classifier`` with the ``wrn`` target's recipe: SGD,
cosine schedule, crop + flip, channels-last) for a few steps per precision, fp32 and bf16
autocast in the same run, interleaved round by round; the figure is the median step time.
An epoch is 25,000 records (LiRA's CIFAR-10 setup trains every model on half of the 50,000
training images); a paper-scale run is the target plus ``--models`` reference models for
``--epochs`` epochs each.

    python benchmarks/wrn_epoch.py [--steps 3] [--rounds 3] [--models 64] [--epochs 100]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mia_core import LabeledData, TrainEnv, fit_classifier
from mia_core.training.fit import seeded
from mia_wrn_target.plugin import WrnOptions, WrnTarget

RECORDS_PER_EPOCH = 25_000


def step_seconds(precision: str, steps: int, batch: int) -> float:
    """Seconds per training step: one epoch of ``steps`` batches, timed after one warm-up."""
    g = torch.Generator().manual_seed(0)
    n = steps * batch
    data = LabeledData(torch.randn(n, 3, 32, 32, generator=g),
                       torch.randint(0, 10, (n,), generator=g), 10)
    target = WrnTarget(WrnOptions(epochs=1, batch_size=batch, precision=precision))
    env = TrainEnv(torch.device("cpu"), 0)
    with seeded(0):
        fit_classifier(target.build(data), data.subset(torch.arange(batch)), target.recipe(),
                       env)  # warm-up: allocator, kernels
        model = target.build(data)
    start = time.perf_counter()
    fit_classifier(model, data, target.recipe(), env)
    return (time.perf_counter() - start) / steps


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    return ", ".join(f for f in wanted if f in flags) or "none of avx2/avx512"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--models", type=int, default=64, help="reference models")
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(args.rounds):
        for precision in times:
            times[precision].append(step_seconds(precision, args.steps, args.batch))
    print(f"CPU flags: {cpu_flags()}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; WRN-28-2, batch {args.batch}, "
          f"median of {args.rounds} rounds x {args.steps} steps")
    steps = -(-RECORDS_PER_EPOCH // args.batch)
    base = statistics.median(times["fp32"])
    for precision, values in times.items():
        step = statistics.median(values)
        epoch = step * steps
        run = epoch * args.epochs * (args.models + 1)
        print(f"{precision}: {step:.2f} s/step, {epoch / 60:.1f} min/epoch "
              f"({RECORDS_PER_EPOCH:,} records), {base / step:.2f}x fp32; "
              f"{args.models} reference models + target x {args.epochs} epochs: "
              f"{run / 86400:.1f} days")


if __name__ == "__main__":
    main()
