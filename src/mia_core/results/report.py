"""report.html: one self-contained page a person reads, built from a run's files alone.

Plain words first (built from the numbers), then the comparison table, the ROC curves, the
score histograms, the most exposed records, where the attacks agree, the per-class table,
the DP spend and canary audit, the seeds' intervals, and what it takes to rerun. Several
runs give one page with the attacks side by side and, when their DP ε differ, the
privacy-utility picture. Every number shown carries its exact value and its place in
results.json (``data-key``), so a test can hold the page to the file. The page loads nothing:
pictures are inline PNGs.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mia_core.atomic import atomic_write
from mia_core.results.exposure import agreement, most_exposed, strongest
from mia_core.results.metrics import roc_curve, unresolved
from mia_core.results.runfiles import RunFiles, load_seeds
from mia_core.results.summary import details_text

TEMPLATE = "report.html.j2"
METRICS = (("auc", "AUC", "{:.4f}"), ("advantage", "adv", "{:.4f}"),
           ("tpr_at_1pct_fpr", "TPR @ 1 % FPR", "{:.2%}"),
           ("tpr_at_01pct_fpr", "TPR @ 0.1 % FPR", "{:.2%}"),
           ("tpr_at_0_fpr", "TPR @ 0 FPR", "{:.2%}"), ("epsilon_lb", "ε_lb", "{:.3f}"))
SHOWN_FEATURES = 12
SHOWN_TEXT = 300  # characters of a text record shown


def write_report(folders: Sequence[Path], path: Path) -> Path:
    """Render the runs in ``folders`` (a ``--seeds`` folder counts as its seeds) to ``path``."""
    runs: list[RunFiles] = []
    seeds = None
    for folder in folders:
        found, aggregate = load_seeds(folder)
        runs += found
        seeds = aggregate if len(folders) == 1 else None
    html = render(runs, seeds)
    atomic_write(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return path


def render(runs: Sequence[RunFiles], seeds: dict[str, Any] | None = None) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("mia_core.results", "templates"),
                             autoescape=True, keep_trailing_newline=True)
    views = [run_view(run) for run in runs]
    context = {"runs": views, "single": len(views) == 1, "seeds": seeds,
               "metrics": METRICS, "comparison": comparison(runs) if len(runs) > 1 else None}
    return env.get_template(TEMPLATE).render(**context)


def number(key: str, value: Any, fmt: str) -> dict[str, Any]:
    """A shown number: its text, its exact value and where results.json holds it."""
    text = "—" if value is None else fmt.format(value)
    return {"key": key, "value": "" if value is None else repr(value), "text": text}


def run_view(run: RunFiles) -> dict[str, Any]:
    results = run.results
    attacks = results.get("attacks", [])
    best = strongest(attacks)
    return {
        "name": run.name, "results": results, "headline": headline(results, best),
        "attacks": [attack_row(a, i) for i, a in enumerate(attacks)], "strongest": best,
        "roc": _roc(run), "histograms": _histograms(run),
        "exposed": exposed_rows(run, best), "per_class": per_class(attacks),
        "agreement": agreement(run.scores, run.is_member) if run.scores else None,
        "config": {k: v for k, v in results.get("config", {}).items() if k != "options"},
        "options": results.get("options", {}), "versions": results.get("versions", {}),
        "rerun": f"mia-run --config {shlex.quote(str(run.folder.resolve() / 'results.json'))}"
                 " --output NEW_FOLDER" if "config" in results else None,
    }


def proven_epsilon(attack: dict[str, Any]) -> float:
    audit = attack.get("canary_audit") or {}
    return max(attack["metrics"]["epsilon_lb"], audit.get("epsilon", 0.0))


def headline(results: dict[str, Any], best: str | None) -> list[list[Any]]:
    """The plain-words paragraph as sentences of text and numbers."""
    attacks = {a["name"]: a for a in results.get("attacks", [])}
    if best is None:
        return [["This run holds no attack results."]]
    m, i = attacks[best]["metrics"], list(attacks).index(best)
    auc = number(f"attacks.{i}.metrics.auc", m["auc"], "{:.3f}")
    step = m.get("fpr_step", 0.0)
    low, high = (number(f"attacks.{i}.metrics.{k}", m[k], "{:.1%}")
                 for k in ("tpr_at_01pct_fpr", "tpr_at_1pct_fpr"))
    if not unresolved("tpr_at_01pct_fpr", step):
        found = [", finds ", low, " of the members at a 0.1 % false-positive rate (", high,
                 " at 1 %; AUC ", auc, ")."]
    elif not unresolved("tpr_at_1pct_fpr", step):
        found = [", finds ", high, " of the members at a 1 % false-positive rate (AUC ", auc,
                 f"; 0.1 % is not resolvable with {round(1 / step)} non-members)."]
    else:
        found = [" has an AUC of ", auc, f" (1 % and 0.1 % false-positive rates are not "
                 f"resolvable with {round(1 / step)} non-members)."]
    sentences = [["The strongest attack, ", {"text": best}, *found]]
    top = max(attacks.values(), key=proven_epsilon)
    eps, j = proven_epsilon(top), list(attacks).index(top["name"])
    where = ("metrics.epsilon_lb" if eps == top["metrics"]["epsilon_lb"]
             else "canary_audit.epsilon")
    delta = results.get("audit_delta", 1e-5)
    if eps > 0:
        sentences.append(["Any differential-privacy claim for this training must have ε ≥ ",
                          number(f"attacks.{j}.{where}", eps, "{:.2f}"),
                          f" (95 % confidence, δ = {delta:g}; from {top['name']})."])
    else:
        sentences.append(["No attack proves ε above 0 here, so this audit cannot rule out "
                          "any differential-privacy claim; that is not evidence that the "
                          "training is private."])
    if "target_train_accuracy" in results:
        sentences.append(["The model classifies ",
                          number("target_train_accuracy", results["target_train_accuracy"],
                                 "{:.1%}"), " of its members and ",
                          number("target_test_accuracy", results["target_test_accuracy"],
                                 "{:.1%}"), " of non-members correctly."])
    if results.get("given_model"):
        sentences.append([f"Ground truth: {results['given_model']['claim']}."])
        if results["given_model"].get("members_used"):
            sentences.append([f"Members used: {results['given_model']['members_used']}."])
    sentences += _sizes(results.get("split_sizes"))
    return sentences


def _sizes(sizes: dict[str, int] | None) -> list[list[Any]]:
    """The sentence saying how many records each number rests on (a run's, not a score
    file's)."""
    if not sizes:
        return []
    sentence: list[Any] = [
        "Measured on ", number("split_sizes.eval_members", sizes["eval_members"], "{:,}"),
        " members and ", number("split_sizes.eval_nonmembers", sizes["eval_nonmembers"], "{:,}"),
        " non-members; the attacker knew ",
        number("split_sizes.known_members", sizes["known_members"], "{:,}"), " + ",
        number("split_sizes.known_nonmembers", sizes["known_nonmembers"], "{:,}")]
    if sizes.get("population"):
        sentence += ["; reference models trained on records from a population of ",
                     number("split_sizes.population", sizes["population"], "{:,}")]
    return [[*sentence, "."]]


def attack_row(attack: dict[str, Any], index: int) -> dict[str, Any]:
    metrics = attack["metrics"]
    step = metrics.get("fpr_step", 0.0)
    cells = [{"text": "not resolvable"} if unresolved(k, step) else
             number(f"attacks.{index}.metrics.{k}", metrics[k], fmt) for k, _, fmt in METRICS]
    intervals = metrics.get("intervals") or {}
    auc = intervals.get("auc")
    threat = attack.get("threat_model") or "unknown (scores from a file)"
    return {"name": attack["name"], "threat": threat, "cells": cells,
            "seconds": attack.get("seconds"), "canary": attack.get("canary_audit"),
            "auc_interval": f"{auc[0]:.3f} to {auc[1]:.3f}" if auc else "—",
            "gdp": gdp_cells(metrics.get("gdp"), f"attacks.{index}.metrics.gdp"),
            "details": details_text(attack.get("details") or {})}


def gdp_cells(gdp: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """The GDP estimate's μ and ε with their intervals (``None`` for runs made before it)."""
    if not gdp:
        return None
    mu, eps = gdp["mu_interval"], gdp["epsilon_interval"]
    if gdp.get("unbounded"):  # AUC 1: the capped values are no estimate
        return {"mu": {"text": "unbounded"}, "epsilon": {"text": "unbounded"},
                "interval": f"μ {mu[0]:.3f} to ∞, ε {eps[0]:.2f} to ∞"}
    return {"mu": number(f"{key}.mu", gdp["mu"], "{:.3f}"),
            "epsilon": number(f"{key}.epsilon", gdp["epsilon"], "{:.3f}"),
            "interval": f"μ {mu[0]:.3f} to {mu[1]:.3f}, ε {eps[0]:.2f} to {eps[1]:.2f}"}


def _plots() -> Any:
    """The plotting module, or ``None`` without matplotlib: the report then has no pictures."""
    try:
        import matplotlib  # noqa: F401  (asked each time: it may have gone since plots loaded)

        from mia_core.results import plots
    except ImportError:
        return None
    return plots


def _roc(run: RunFiles) -> str | None:
    plots = _plots()
    if plots is None or not run.scores or run.is_member.all() or not run.is_member.any():
        return None
    curves = {n: roc_curve(run.is_member, s)[:2] for n, s in run.scores.items()}
    return plots.data_uri(plots.png_bytes(plots.roc_figure(run.is_member, curves), dpi=80))


def _histograms(run: RunFiles) -> str | None:
    plots = _plots()
    if plots is None or not run.scores:
        return None
    figure = plots.histogram_figure(run.is_member, run.scores)
    return plots.data_uri(plots.png_bytes(figure, dpi=80))


def exposed_rows(run: RunFiles, best: str | None) -> list[dict[str, Any]]:
    """The evaluation members the strongest attack ranks highest, with what they look like."""
    from mia_core.results.exposure import risk

    plots = _plots()
    if best is None or best not in run.scores:
        return []
    scores = run.scores[best]
    risks = run.risks.get(best, risk(scores, run.is_member))
    rows = []
    for rank, pos in enumerate(most_exposed(scores, run.is_member), start=1):
        record = int(run.records[pos])
        inputs = run.exposed.get(record)
        text = run.exposed_text.get(record)
        image = (plots.thumbnail(inputs) if inputs is not None and plots and text is None
                 else None)
        values: str | None = None
        if text is not None:  # escaped by the template
            values = text if len(text) <= SHOWN_TEXT else text[:SHOWN_TEXT] + " …"
        elif inputs is not None and image is None:
            flat = np.asarray(inputs).ravel()
            values = " ".join(f"{v:.4g}" for v in flat[:SHOWN_FEATURES])
            values += f" … ({flat.size} values)" if flat.size > SHOWN_FEATURES else ""
        rows.append({"rank": rank, "record": record, "label": int(run.labels[pos]),
                     "score": f"{scores[pos]:.4g}", "risk": f"{risks[pos]:.4f}",
                     "image": image, "features": values})
    return rows


def per_class(attacks: list[dict[str, Any]]) -> dict[str, Any] | None:
    classes = sorted({c for a in attacks for c in a.get("per_class", {})}, key=_class_key)
    if not classes:
        return None
    rows = [{"label": c, "members": next(a["per_class"][c]["members"] for a in attacks
                                         if c in a.get("per_class", {})),
             "auc": [(a.get("per_class", {}).get(c) or {}).get("auc") for a in attacks]}
            for c in classes]
    return {"attacks": [a["name"] for a in attacks], "rows": rows}


def _class_key(label: str) -> tuple[int, str]:
    return (0, f"{int(label):09d}") if label.lstrip("-").isdigit() else (1, label)


def comparison(runs: Sequence[RunFiles]) -> dict[str, Any]:
    """Attacks x runs (AUC and TPR at 0.1 % FPR), and the privacy-utility picture when the
    runs were trained at different DP ε."""
    names = [r.name for r in runs]
    attacks = list(dict.fromkeys(a["name"] for r in runs for a in r.results.get("attacks", [])))
    table = []
    for attack in attacks:
        cells = []
        for run in runs:
            found = next((a for a in run.results.get("attacks", []) if a["name"] == attack),
                         None)
            m = found["metrics"] if found else {}
            cells.append((m.get("auc"), m.get("tpr_at_01pct_fpr")))
        table.append({"attack": attack, "cells": cells})
    return {"runs": names, "table": table, "tradeoff": _tradeoff(runs)}


def _tradeoff(runs: Sequence[RunFiles]) -> str | None:
    plots = _plots()

    def epsilon(run: RunFiles) -> float:
        spent = run.results.get("privacy")
        return spent["epsilon"] if spent else float("inf")

    eps = [epsilon(r) for r in runs]
    if plots is None or len(set(eps)) < 2:
        return None
    finite = [e for e in eps if np.isfinite(e)]
    right = max(finite) * 10 if finite else 1.0
    points = []
    for run, e in sorted(zip(runs, eps, strict=True), key=lambda p: p[1]):
        attacks = run.results.get("attacks", [])
        best = next(a for a in attacks if a["name"] == strongest(attacks))["metrics"]
        tick = f"ε {e:.3g}" if np.isfinite(e) else "no DP"
        points.append((tick, e if np.isfinite(e) else right, best["auc"],
                       best["tpr_at_01pct_fpr"], run.results.get("target_test_accuracy", 0)))
    return plots.data_uri(plots.png_bytes(plots.tradeoff_figure(points), dpi=80))
