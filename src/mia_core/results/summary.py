"""The human-readable summary of a run, printed on stdout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mia_core.results.metrics import RATES, AttackMetrics, unresolved
from mia_core.results.types import AttackReport, ExperimentResult
from mia_core.training.formats import speeds_text


def _privacy_lines(result: ExperimentResult) -> list[str]:
    p = result.privacy
    if p is None:
        return []
    return [f"DP-SGD: ε = {p.epsilon:.3f} at δ = {p.delta:g} (Opacus RDP accountant); "
            f"noise multiplier {p.noise_multiplier:.4f}, sampling rate "
            f"{p.sample_rate:.4g}, {p.steps} steps, clipping norm {p.max_grad_norm:g}"]


def _canary_lines(result: ExperimentResult) -> list[str]:
    audits = [(a.name, a.canary_audit) for a in result.attacks if a.canary_audit]
    if not audits:
        return (["one-run audit: only known-members attacks score the canaries; add one, e.g. "
                 "--attack loss-threshold"] if result.config.canaries else [])
    return [f"one-run audit, {audits[0][1].canaries} canaries each trained on with "
            "probability 1/2: ε_lb (Steinke et al. 2023, any DP claim) and the f-DP bound "
            "(Mahloujifar et al. 2024, Gaussian-curve claims):"] + [
        f"  {name}: ε_lb {audit.epsilon:.3f}, f-DP μ ≥ {audit.fdp_mu:.3f} (ε "
        f"{audit.fdp_epsilon:.3f}) from {audit.correct} of {audit.guesses} guesses right"
        + _means(audit) for name, audit in audits]


def _means(audit: Any) -> str:
    """'; mean score 3.1 trained on, 0.4 not' (nothing when a side has no canary)."""
    if audit.mean_included is None or audit.mean_excluded is None:
        return ""
    return (f"; mean score {audit.mean_included:.4g} trained on, {audit.mean_excluded:.4g} "
            "not")


def details_text(details: Mapping[str, Any]) -> str:
    """What an attack chose on its own data, e.g. ``mode offline, a 0.4, ...``."""
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in details.items())


def _detail_line(attack: AttackReport) -> str:
    return f"{attack.name}: {details_text(attack.details)}"


def _format_lines(result: ExperimentResult) -> list[str]:
    step = result.step_format
    if step is None:
        return []
    speeds = speeds_text(step.images_per_s)
    return [f"training steps: {step.name} ({step.how}" + (f"; images/s {speeds}" if speeds
                                                          else "") + ")"]


def _given_lines(result: ExperimentResult) -> list[str]:
    given = result.given_model
    if given is None:
        return []
    used = [f"members used: {given.members_used}"] if given.members_used else []
    return [f"model under audit: {given.file} (sha256 {given.sha256[:16]}…), trained "
            "elsewhere", f"ground truth: {given.claim}", *used]


def _gdp_epsilon(metrics: AttackMetrics) -> str:
    if metrics.gdp is None:
        return "-"
    return "unbnd" if metrics.gdp.unbounded else f"{metrics.gdp.epsilon:.3f}"


def attack_table(attacks: Sequence[AttackReport], delta: float) -> list[str]:
    """The metrics table, one attack a line, and what ε_lb means."""
    width = max([6, *(len(a.name) for a in attacks)])
    lines = [f"{'attack':<{width}} {'AUC':>6} {'adv':>6} {'acc':>6} {'prec':>6} "
             f"{'recall':>6} {'TPR@1%':>7} {'TPR@.1%':>8} {'TPR@0%':>7} {'ε_lb':>6} "
             f"{'ε_gdp':>6} {'time':>7}"]
    for a in attacks:
        m = a.metrics
        lines.append(
            f"{a.name:<{width}} {m.auc:>6.4f} {m.advantage:>6.4f} {m.accuracy:>6.4f} "
            f"{m.precision:>6.4f} {m.recall:>6.4f} {_tpr(m, 'tpr_at_1pct_fpr'):>7} "
            f"{_tpr(m, 'tpr_at_01pct_fpr'):>8} {m.tpr_at_0_fpr:>7.4f} {m.epsilon_lb:>6.3f} "
            f"{_gdp_epsilon(m):>6} {a.seconds:>6.1f}s")
    lines += [f"ε_lb: one-sided 95 % lower bound on ε at δ = {delta:g} from each attack's "
              "scores; ε_gdp: an estimate at the same δ, assuming the ROC is Gaussian "
              "(μ-GDP from the AUC; see docs/auditing.md)"]
    if any(a.metrics.gdp is not None and a.metrics.gdp.unbounded for a in attacks):
        lines.append("unbnd: unbounded: an AUC of 1 fits no finite μ, so the GDP estimate has "
                     "no finite ε (its interval is in results.json and the report)")
    step = max((a.metrics.fpr_step for a in attacks), default=0.0)
    if any(unresolved(key, step) for key in RATES):
        lines.append(f"n/r: not resolvable: with {round(1 / step)} non-members one false "
                     f"positive is already {100 * step:.2f} % FPR")
    return lines


def _tpr(metrics: AttackMetrics, key: str) -> str:
    """The TPR at ``key``'s FPR, or ``n/r`` where the non-members are too few to resolve it."""
    return "n/r" if unresolved(key, metrics.fpr_step) else f"{getattr(metrics, key):.4f}"


def format_summary(result: ExperimentResult) -> str:
    """The human-readable summary printed on stdout."""
    cfg, sizes = result.config, result.split_sizes
    lines = [
        f"mia-core: dataset={cfg.dataset} target={cfg.target} seed={cfg.seed} "
        f"device={result.device}" + ("  CONTROL RUN: target never saw the members"
                                     if cfg.control else ""),
        f"split: {sizes['members']} members / {sizes['nonmembers']} non-members "
        f"(pool {result.pool_size}); "
        + (f"attacker knows {sizes['known_members']} + {sizes['known_nonmembers']}; "
           if any(a.threat_model in ("known-members", "label-only") for a in result.attacks)
           else "")
        + f"evaluation {sizes['eval_members']} members + {sizes['eval_nonmembers']} non-members"
        + (f"; population {sizes['population']}" if sizes["population"] else ""),
        f"target: train accuracy {result.target_train_accuracy:.4f}, "
        f"test accuracy {result.target_test_accuracy:.4f} (non-members)",
        *_format_lines(result),
        *_privacy_lines(result),
        *_given_lines(result),
        *(f"WARNING: {line}." for line in result.warnings),
        "",
        *attack_table(result.attacks, result.audit_delta),
    ]
    lines += _canary_lines(result)
    lines += [_detail_line(a) for a in result.attacks if a.details]
    for name in result.privacy_violations:
        spent = result.privacy.epsilon if result.privacy else 0.0
        lines.append(f"WARNING: attack '{name}' proves ε >= "
                     f"{result.attack(name).proven_epsilon:.3f}, above the accountant's ε = "
                     f"{spent:.3f}: the accountant, the training or the attack is wrong")
    t = result.timings
    lines += ["", "timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items())]
    if result.models_from_cache:
        lines.append(f"models: {result.models_from_cache} loaded from cache, "
                     f"{result.models_trained} trained")
    return "\n".join(lines)
