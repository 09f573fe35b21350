"""Every attack on the demo's target (LeNet, 12,000 MNIST members): AUC, TPR at low FPR, time.

Runs ``mia-run`` once with all attacks (one target, one shared set of reference models) and
prints its comparison table. With an empty model cache this trains the target and N reference
models (about 80 s each on a 2-core CPU); rerunning with the same cache trains nothing.

    python benchmarks/attack_comparison.py [--reference-models 8] [--output DIR] [--no-cache]
        [--executor local --workers 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ATTACKS = ("lira", "lira-offline", "rmia", "shadow-mlp", "loss-threshold",
           "confidence-threshold", "entropy-threshold", "mentropy-threshold", "torch-mlp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-models", type=int, default=8,
                        help="8 fits a CPU budget; global variance keeps LiRA stable with few")
    parser.add_argument("--members", type=int, default=12000)
    parser.add_argument("--output", type=Path, help="also write results, ROC plot, ...")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--executor", default="local", help="where reference models train")
    parser.add_argument("--workers", type=int, default=0, help="0: the executor chooses")
    args = parser.parse_args()
    cmd = [str(Path(sys.executable).with_name("mia-run")), "--dataset", "mnist",
           "--members", str(args.members), "--reference-models", str(args.reference_models),
           "-o", "lira.variance=global", "-o", "lira-offline.variance=global",
           "--executor", args.executor, "--workers", str(args.workers)]
    for attack in ATTACKS:
        cmd += ["--attack", attack]
    if args.output:
        cmd += ["--output", str(args.output)]
    if args.no_cache:
        cmd.append("--no-cache")
    print("$ " + " ".join(cmd[1:]), file=sys.stderr)
    sys.exit(subprocess.run(cmd).returncode)


if __name__ == "__main__":
    main()
