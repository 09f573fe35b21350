"""Privacy-utility picture: the demo target without DP and with DP-SGD at several epsilons.

For each setting it runs one experiment (same seed, split and attacks) and reports the target's
test accuracy, each attack's AUC, TPR at 0.1 % FPR, epsilon lower bound and Gaussian-DP
estimate, the one-run canary bounds (Steinke; f-DP), and the accountant's epsilon. Writes
``dp_tradeoff.md`` (the table), ``dp_tradeoff.json`` and ``dp_tradeoff.png`` into
``--output``, each setting's run folder (``no-dp``, ``eps-1`` ...) and ``report.html``: the
runs side by side with the privacy-utility picture (``mia report`` on those folders).

The default recipe is shortened to fit a 2-core CPU (DP-SGD computes per-sample gradients, about
10x the cost of plain training): LeNet on 1,000 MNIST members, 15 epochs, batch 64, Adam 2e-3,
clipping norm 1, delta 1e-5, 2 reference models, 500 canaries.

    python benchmarks/dp_tradeoff.py [--epsilons 1 4 8] [--members 1000] [--output DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

ATTACKS = ("loss-threshold", "lira-offline", "rmia", "qmia")


def run_setting(epsilon: float | None, args: argparse.Namespace, folder: Path) -> dict:
    from mia_core.catalog.loading import load_catalog
    from mia_core.config import ExperimentConfig
    from mia_core.experiment.run import run_experiment
    from mia_core.progress import Progress
    from mia_core.training.cache import ModelCache, default_cache_dir

    target = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr}
    if epsilon is not None:
        target.update(dp_epsilon=epsilon, dp_delta=args.delta, max_grad_norm=1.0)
    config = ExperimentConfig(dataset="mnist", target="cnn", attacks=ATTACKS,
                              members=args.members, reference_models=args.reference_models,
                              canaries=args.canaries, device="cpu", seed=args.seed,
                              reporters=("json",),
                              options={"target": target, "lira-offline": {"variance": "global"}})
    clock = time.perf_counter()
    result, _ = run_experiment(config, load_catalog(), data_dir=args.data_dir,
                               progress=Progress(enabled=not args.quiet),
                               cache=ModelCache(None if args.no_cache else default_cache_dir()),
                               output=folder)
    row = {"epsilon_target": epsilon, "seconds": time.perf_counter() - clock,
           "test_accuracy": result.target_test_accuracy,
           "train_accuracy": result.target_train_accuracy,
           "accountant_epsilon": result.privacy.epsilon if result.privacy else None,
           "noise_multiplier": result.privacy.noise_multiplier if result.privacy else None,
           "violations": result.privacy_violations, "attacks": {}}
    for report in result.attacks:
        m = report.metrics
        row["attacks"][report.name] = {
            "auc": m.auc, "tpr_at_01pct_fpr": m.tpr_at_01pct_fpr, "epsilon_lb": m.epsilon_lb,
            "gdp_epsilon": m.gdp.epsilon, "gdp_epsilon_interval": m.gdp.epsilon_interval,
            "gdp_mu": m.gdp.mu,
            "canary_epsilon_lb": (report.canary_audit or {}).get("epsilon"),
            "canary_fdp_epsilon": (report.canary_audit or {}).get("fdp_epsilon")}
    return row


def table(rows: list[dict]) -> str:
    head = ["ε target", "ε accountant", "noise mult.", "test acc"]
    for name in ATTACKS:
        head += [f"{name} AUC", f"{name} ε_lb", f"{name} ε_gdp (95 %)"]
    head += ["canary ε_lb (loss)", "canary f-DP ε (loss)", "time"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = ["none" if r["epsilon_target"] is None else f"{r['epsilon_target']:g}",
                 "∞" if r["accountant_epsilon"] is None else f"{r['accountant_epsilon']:.3f}",
                 "-" if r["noise_multiplier"] is None else f"{r['noise_multiplier']:.3f}",
                 f"{r['test_accuracy']:.4f}"]
        for name in ATTACKS:
            a = r["attacks"][name]
            low, high = a["gdp_epsilon_interval"]
            cells += [f"{a['auc']:.4f}", f"{a['epsilon_lb']:.3f}",
                      f"{a['gdp_epsilon']:.2f} ({low:.2f} to {high:.2f})"]
        loss = r["attacks"]["loss-threshold"]
        cells += [_or_dash(loss["canary_epsilon_lb"]), _or_dash(loss["canary_fdp_epsilon"]),
                  f"{r['seconds']:.0f}s"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _or_dash(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["none" if r["epsilon_target"] is None else f"ε={r['epsilon_target']:g}"
              for r in rows]
    x = range(len(rows))
    fig, (util, attack, bound) = plt.subplots(1, 3, figsize=(15, 4.5))
    util.plot(x, [r["test_accuracy"] for r in rows], "o-", label="test accuracy")
    util.set_title("utility")
    for name in ATTACKS:
        attack.plot(x, [r["attacks"][name]["auc"] for r in rows], "o-", label=f"{name} AUC")
        bound.plot(x, [r["attacks"][name]["epsilon_lb"] for r in rows], "o-",
                   label=f"{name} ε_lb")
    attack.axhline(0.5, color="grey", lw=0.8, ls=":")
    attack.set_title("attack AUC")
    canary = [r["attacks"]["loss-threshold"]["canary_epsilon_lb"] for r in rows]
    bound.plot(x, [c if c is not None else math.nan for c in canary], "s--",
               label="one-run canary ε_lb (loss)")
    bound.plot(x, [r["accountant_epsilon"] if r["accountant_epsilon"] is not None else math.nan
                   for r in rows], "k^-", label="accountant ε (upper bound)")
    bound.set_title("ε: audited lower bounds vs accountant")
    for ax in (util, attack, bound):
        ax.set_xticks(list(x), labels)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 4.0, 8.0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--reference-models", type=int, default=2)
    parser.add_argument("--canaries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ["MIA_DATA_DIR"]) if os.environ.get(
                            "MIA_DATA_DIR") else None)
    parser.add_argument("--output", type=Path, default=Path("runs/dp-tradeoff"))
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    rows, folders = [], []
    for epsilon in [None, *args.epsilons]:
        print(f"== {'no DP' if epsilon is None else f'DP-SGD, ε = {epsilon:g}'}",
              file=sys.stderr, flush=True)
        folders.append(args.output / ("no-dp" if epsilon is None else f"eps-{epsilon:g}"))
        rows.append(run_setting(epsilon, args, folders[-1]))
    args.output.mkdir(parents=True, exist_ok=True)
    from mia_core.results.report import write_report

    write_report(folders, args.output / "report.html")
    text = table(rows)
    (args.output / "dp_tradeoff.md").write_text(text + "\n")
    (args.output / "dp_tradeoff.json").write_text(json.dumps(rows, indent=2) + "\n")
    plot(rows, args.output / "dp_tradeoff.png")
    print(text)
    print(f"wrote {args.output}/dp_tradeoff.{{md,json,png}} and {args.output}/report.html",
          file=sys.stderr)


if __name__ == "__main__":
    main()
