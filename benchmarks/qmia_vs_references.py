"""QMIA against the reference-model attacks on one target: AUC, TPR at low FPR, wall time.

One LeNet target on MNIST (the demo recipe, ``--members`` records), attacked by ``qmia`` (a
regressor on population records, no reference models) and by LiRA, offline LiRA, RMIA and
online RMIA with 8 and with 64 reference models. Each row's time is what the attack costs
on its own: its scoring plus, for the reference attacks, training their models (shared by
the attacks of one row, so it is listed once). Prints the CPU, its flags and a Markdown table.

    python benchmarks/qmia_vs_references.py [--members 4000] [--models 8,64] [--cache-dir D]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REFERENCE_ATTACKS = ("lira", "lira-offline", "rmia", "rmia-online")


def cpu() -> str:
    """The CPU model and the flags that matter, as the step-format store names them."""
    import torch

    from mia_core.training.formats import machine_key

    return machine_key(torch.device("cpu"))


def mia_run(args: argparse.Namespace, out: Path, attacks: list[str], models: int) -> dict:
    cmd = [str(Path(sys.executable).with_name("mia-run")), "--dataset", "mnist", "--members",
           str(args.members), "--output", str(out), "--cache-dir", str(args.cache_dir),
           "--quiet"]
    for attack in attacks:
        cmd += ["--attack", attack]
    if models:
        cmd += ["--reference-models", str(models)]
    if 0 < models < 64:  # LiRA's per-record variances need many models (Carlini et al.)
        cmd += ["-o", "lira.variance=global", "-o", "lira-offline.variance=global"]
    print("$ mia-run " + " ".join(cmd[1:]), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "results.json").read_text())


def rows(results: dict, models: int) -> list[str]:
    shared = results["timings"].get("train_references", 0.0)
    out = []
    for a in results["attacks"]:
        m, low_high = a["metrics"], a["metrics"]["intervals"]["auc"]
        cost = a["seconds"] + (shared if a["threat_model"] == "population" and models else 0)
        out.append(f"| {a['name']} | {models or 'none'} | {m['auc']:.4f} ({low_high[0]:.3f} to "
                   f"{low_high[1]:.3f}) | {m['tpr_at_1pct_fpr']:.4f} | "
                   f"{m['tpr_at_01pct_fpr']:.4f} | {a['seconds']:.1f} s | {cost:.0f} s |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=4000)
    parser.add_argument("--models", default="8,64", help="reference-model counts to compare")
    parser.add_argument("--cache-dir", type=Path, help="model cache (default: a fresh one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        args.cache_dir = args.cache_dir or Path(tmp) / "cache"
        table = ["| attack | reference models | AUC (95 % interval) | TPR@1 % | TPR@0.1 % | "
                 "attack time | time incl. its reference models |", "|---|---|---|---|---|---|---|"]
        first = mia_run(args, Path(tmp) / "qmia", ["qmia"], 0)
        table += rows(first, 0)
        for count in (int(c) for c in args.models.split(",")):
            table += rows(mia_run(args, Path(tmp) / f"refs{count}", list(REFERENCE_ATTACKS),
                                  count), count)
    print(f"CPU: {cpu()}; torch threads {first['threads']}; target: LeNet, {args.members} "
          f"MNIST members, train acc {first['target_train_accuracy']:.4f}, test acc "
          f"{first['target_test_accuracy']:.4f}")
    print("\n".join(table))


if __name__ == "__main__":
    main()
