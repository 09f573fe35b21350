"""Target training throughput on this machine: plain fp32 NCHW loop vs mia-core's fast path.

Every variant: the plain loop a user would write, a like-for-like minimal loop (the fast
path's maths with nothing around it), fit_classifier in each precision and layout, and its
default (precision auto, the machine's measured choice); then torch-mlp's fit.

Each measurement runs in a fresh process (the fast path changes process-wide allocator
settings, which must not leak into the baseline), variants interleaved round by round so a
noisy neighbour hurts all of them alike; the figure is the median over rounds.

    python benchmarks/train_throughput.py [--rounds 5] [--records 12000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = {
    "plain-fp32-nchw": "baseline: the demo's loop, fp32, NCHW, default allocator",
    "minimal": "like-for-like bare loop: mia-core's LeNet, the chosen precision and layout, "
               "foreach Adam, per-step gather; no progress, divergence check or schedule",
    "fast-fp32-nchw": "mia-core fit_classifier, fp32, contiguous",
    "fast-fp32-cl": "mia-core fit_classifier, fp32, channels-last",
    "fast-bf16-nchw": "mia-core fit_classifier, bf16 autocast, contiguous",
    "fast-bf16": "mia-core fit_classifier, bf16 autocast, channels-last",
    "fast": "mia-core fit_classifier, default options (precision auto: the measured choice)",
}


def load_data(records: int):
    import torch

    data_dir = os.environ.get("MIA_DATA_DIR")
    if data_dir:
        from pathlib import Path

        from mia_core import LoadEnv
        from mia_core.progress import QUIET
        from mia_mnist_data.plugin import Mnist, MnistOptions

        data = Mnist(MnistOptions(split="train")).load(LoadEnv(Path(data_dir), QUIET))
        return data.subset(torch.arange(records))
    from mia_core import LabeledData

    g = torch.Generator().manual_seed(0)
    return LabeledData(torch.randn(records, 1, 28, 28, generator=g),
                       torch.randint(0, 10, (records,), generator=g), 10)


def plain_epoch(data, epochs: int) -> float:
    """The baseline a user would write: nn.Sequential LeNet, Adam, shuffled batches of 256."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(data))
        for i in range(0, len(data), 256):
            idx = order[i:i + 256]
            loss = nn.functional.cross_entropy(model(data.x[idx]), data.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def minimal_epoch(data, epochs: int) -> float:
    """The same maths as the fast path with nothing around it: what fit_classifier costs
    beyond the arithmetic is the difference."""
    import torch
    from torch import nn

    from mia_cnn_target.plugin import LeNet
    from mia_core import TrainRecipe
    from mia_core.training.fit import _keep_freed_memory
    from mia_core.training.formats import choose_format

    _keep_freed_memory()
    torch.manual_seed(0)
    model = LeNet()
    step = choose_format(model, data.x[:256], data.y[:256], TrainRecipe(30, 256, 1e-3),
                         torch.device("cpu"))
    layout = torch.channels_last if step.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    x = data.x.contiguous(memory_format=layout)
    dtype = torch.bfloat16 if step.precision == "bf16" else None
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        for i in range(0, len(data), 256):
            idx = order[i:i + 256]
            with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                loss = nn.functional.cross_entropy(model(x[idx]), data.y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def fast_epoch(data, epochs: int, channels_last: bool, precision: str) -> float:
    import torch

    from mia_cnn_target.plugin import CnnOptions, CnnTarget
    from mia_core import TrainEnv

    target = CnnTarget(CnnOptions(epochs=epochs, channels_last=channels_last,
                                  precision=precision))
    torch.manual_seed(0)
    model = target.build(data)
    start = time.perf_counter()
    target.fit(data, TrainEnv(torch.device("cpu"), 0))
    del model
    return time.perf_counter() - start


def measure(variant: str, records: int, epochs: int) -> float:
    """Images per second for one timed run (after a short warm-up), in this process."""
    data = load_data(records)
    warm = data.subset(__import__("torch").arange(min(1024, records)))
    run = {
        "plain-fp32-nchw": lambda d, e: plain_epoch(d, e),
        "minimal": lambda d, e: minimal_epoch(d, e),
        "fast-fp32-nchw": lambda d, e: fast_epoch(d, e, False, "fp32"),
        "fast-fp32-cl": lambda d, e: fast_epoch(d, e, True, "fp32"),
        "fast-bf16-nchw": lambda d, e: fast_epoch(d, e, False, "bf16"),
        "fast": lambda d, e: fast_epoch(d, e, True, "auto"),
        "fast-bf16": lambda d, e: fast_epoch(d, e, True, "bf16"),
    }[variant]
    run(warm, 1)
    return records * epochs / run(data, epochs)


def attack_fit_seconds(records: int) -> float:
    """Wall time of torch-mlp's score() (feature queries + attack-model fit) on a small target."""
    import torch

    from mia_cnn_target.plugin import CnnOptions, CnnTarget
    from mia_core import AttackContext, KnownRecords, TargetOracle, TrainEnv
    from mia_torch_attack.plugin import MlpAttack, MlpOptions

    data = load_data(records)
    half = records // 2
    torch.manual_seed(0)
    model = CnnTarget(CnnOptions(epochs=1)).fit(data.subset(torch.arange(half)),
                                                 TrainEnv(torch.device("cpu"), 0))
    known = KnownRecords(data, torch.arange(records) < half)
    ctx = AttackContext(TargetOracle(model, torch.device("cpu")), data, known,
                        torch.device("cpu"), 0)
    start = time.perf_counter()
    MlpAttack(MlpOptions()).score(ctx)
    return time.perf_counter() - start


def child(args: argparse.Namespace) -> None:
    if args.variant == "attack":
        print(json.dumps(attack_fit_seconds(args.records)))
    else:
        print(json.dumps(measure(args.variant, args.records, args.epochs)))


def spawn(variant: str, args: argparse.Namespace) -> float:
    cmd = [sys.executable, __file__, "--child", variant, "--records", str(args.records),
           "--epochs", str(args.epochs)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--records", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per run")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from: {', '.join(VARIANTS)}")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--in-process", action="store_true",
                        help="run every variant in this one process instead (the fast "
                             "path's allocator settings then apply to all of them)")
    parser.add_argument("--child", dest="variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    variants = args.variants.split(",")
    samples: dict[str, list[float]] = {v: [] for v in variants}
    attack: list[float] = []
    for r in range(args.rounds):
        for v in variants:
            samples[v].append(measure(v, args.records, args.epochs) if args.in_process
                              else spawn(v, args))
            print(f"round {r + 1}/{args.rounds} {v}: {samples[v][-1]:.0f} images/s",
                  file=sys.stderr)
        attack.append(attack_fit_seconds(args.records) if args.in_process
                      else spawn("attack", args))
    base = statistics.median(samples[variants[0]])
    from mia_core.training.formats import cpu_model, machine_key

    print(f"CPU: {cpu_model()}; {machine_key(__import__('torch').device('cpu'))}; "
          f"{os.cpu_count()} cores")
    report = {"records": args.records, "rounds": args.rounds, "variants": {},
              "machine": machine_key(__import__("torch").device("cpu"))}
    print(f"{'variant':<18} {'images/s':>9} {'x baseline':>10}  (median of {args.rounds})")
    for v in variants:
        med = statistics.median(samples[v])
        report["variants"][v] = {"median_images_per_s": med, "samples": samples[v],
                                 "ratio": med / base}
        print(f"{v:<18} {med:>9.0f} {med / base:>10.2f}  {VARIANTS[v]}")
    report["attack_score_seconds_median"] = statistics.median(attack)
    print(f"torch-mlp score() on {args.records} records: {statistics.median(attack):.2f} s "
          f"(median of {args.rounds})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
