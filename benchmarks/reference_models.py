"""Reference models per minute: one after another in this process vs the executors.

Trains the same reference models (the demo's shape: LeNet, batch 256, 12,000 MNIST records per
model drawn from a 24,000-record pool, as population + evaluation records are in the demo)
with each variant, in interleaved rounds, and reports the median wall time, models per minute,
training images per second and the ratio to the sequential path measured in the same run.
Startup costs (worker processes, a local Ray instance) are part of each variant's time, as a
user pays them. Epochs are fewer than the demo's 30 so a round takes minutes; per-step work is
the same, and longer trainings only dilute the startup costs further.

    python benchmarks/reference_models.py [--models 8] [--epochs 5] [--rounds 3]
        [--variants sequential,local-2,ray,batched-4] [--device cpu|cuda] [--queries 16,64]

``--queries`` adds what attacks used to wait for after training: the driver querying every
reference model on the 24,000-record pool ("before"), against what the driver does now that
each model's pool logits come back with it from its worker ("after": unpacking them). The
query itself moves into the workers, once per model, in parallel with the others' training.

Needs MNIST (``MIA_DATA_DIR`` or ``--data-dir``); ``ray`` needs plugins/ray_executor installed.
Batched variants train without channels-last (``torch.func`` batching keeps contiguous
memory); on the CPU they are shown for completeness, they are meant for CUDA.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from mia_core import ExecEnv, LoadEnv, TrainTask
from mia_core.catalog.loading import load_catalog
from mia_core.default_plugins.local_executor import LocalExecutor, LocalOptions
from mia_core.progress import QUIET
from mia_core.references import reference_jobs
from mia_core.training.executors import run_jobs

POOL = 24_000  # population 12,000 + evaluation 12,000 in the demo: 12,000 records per model


def load_pool(data_dir: Path | None) -> tuple[object, object]:
    catalog = load_catalog()
    dataset = catalog.get("dataset", "mnist").build()
    data = dataset.load(LoadEnv(data_dir, QUIET))
    pool = data.subset(torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
                       [:POOL])
    return catalog, pool


def executor_for(variant: str, catalog):
    if variant == "sequential":
        return "local", LocalExecutor(LocalOptions()), 1
    if variant.startswith("local-"):
        return "local", LocalExecutor(LocalOptions()), int(variant.split("-")[1])
    if variant.startswith("batched-"):
        return "local", LocalExecutor(LocalOptions(batch=int(variant.split("-")[1]))), 1
    if variant == "ray":
        entry = catalog.get("executor", "ray")
        return "ray", entry.build(entry.options(cpus_per_task=1.0)), 0
    raise SystemExit(f"unknown variant {variant!r}")


def measure(variant: str, task: TrainTask, jobs, device: torch.device, catalog) -> float:
    name, executor, workers = executor_for(variant, catalog)
    env = ExecEnv(device, torch.get_num_threads(), workers)
    start = time.perf_counter()
    done = list(run_jobs(executor, name, task, jobs, env))
    seconds = time.perf_counter() - start
    assert len(done) == len(jobs)
    return seconds


def cpu_flags() -> str:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    return ", ".join(f for f in wanted if f in flags) or "none of avx2/avx512"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="sequential,local-2,ray,batched-4")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", type=Path, help="MNIST folder (default: $MIA_DATA_DIR)")
    parser.add_argument("--queries", default="", help="reference-model counts for the query "
                        "comparison, e.g. 16,64 (empty: skip it)")
    args = parser.parse_args()
    if args.queries:
        compare_queries([int(n) for n in args.queries.split(",")], args)
        if not args.variants:
            return
    device = torch.device(args.device)
    catalog, pool = load_pool(args.data_dir)
    target_entry = catalog.get("target", "cnn")
    target = target_entry.build(target_entry.options(epochs=args.epochs))
    task = TrainTask(target, "target 'cnn'", pool)
    jobs = reference_jobs(args.models, POOL, seed=0)[1]
    variants = args.variants.split(",")
    print(f"# {args.models} reference models x {len(jobs[0].records)} records x {args.epochs} "
          f"epochs, batch 256, device {device}, {os.cpu_count()} CPUs ({cpu_flags()}), torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads", file=sys.stderr)
    times: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(args.rounds):
        for variant in variants:
            seconds = measure(variant, task, jobs, device, catalog)
            times[variant].append(seconds)
            print(f"round {r + 1} {variant}: {seconds:.1f}s", file=sys.stderr)
    base = statistics.median(times[variants[0]])
    images = args.models * len(jobs[0].records) * args.epochs
    print("| variant | median wall | models/min | images/s | vs " + variants[0] + " |")
    print("| --- | --- | --- | --- | --- |")
    for variant in variants:
        wall = statistics.median(times[variant])
        print(f"| {variant} | {wall:.1f} s | {args.models / wall * 60:.1f} | "
              f"{images / wall:,.0f} | {base / wall:.2f}x |")


def compare_queries(counts: list[int], args: argparse.Namespace) -> None:
    """Driver-side pool queries of M models vs unpacking the logits the workers sent."""
    from mia_core.training.executors import pack_state, unpack_state
    from mia_core.training.fit import predict_logits, seeded

    catalog, pool = load_pool(args.data_dir)
    entry = catalog.get("target", "cnn")
    target = entry.build(entry.options())
    device = torch.device(args.device)
    query, unpack = [], []
    for seed in range(3):  # an untrained LeNet costs what a trained one does to query
        with seeded(seed):
            model = target.build(pool).to(device).eval()
        clock = time.perf_counter()
        logits = predict_logits(model, pool.x, device)
        query.append(time.perf_counter() - clock)
        payload = pack_state(model, logits)
        clock = time.perf_counter()
        unpack_state(payload)
        unpack.append(time.perf_counter() - clock)
    q, u = statistics.median(query), statistics.median(unpack)
    print(f"# pool queries: {len(pool):,} records per model, median of 3 models, device "
          f"{device}, {torch.get_num_threads()} threads ({cpu_flags()})", file=sys.stderr)
    print("| reference models | before: driver queries | after: driver unpacks | saved |")
    print("| --- | --- | --- | --- |")
    for m in counts:
        print(f"| {m} | {m * q:.1f} s | {m * u:.2f} s | {m * (q - u):.1f} s |")


if __name__ == "__main__":
    main()
