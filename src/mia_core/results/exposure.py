"""Which records an attack exposes: a per-record risk, the strongest attack, the top records,
and where several attacks agree on the members they find.

A score means nothing across attacks (LiRA's is a likelihood ratio, a threshold attack's a
log-probability); what a reader can act on is how far above the non-members a record
stands. A record's **risk** is the share of evaluation non-members that score below it (ties
count half): 0.999 means flagging it as a member would have a false-positive rate of 0.1 %.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mia_core.results.metrics import resolves

EXPOSED = 16  # records shown in the report


def risk(scores: np.ndarray, is_member: np.ndarray) -> np.ndarray:
    """Per record: the share of non-members scoring below it, ties counted half."""
    scores = np.asarray(scores, dtype=np.float64)
    negatives = np.sort(scores[~np.asarray(is_member, dtype=bool)])
    if len(negatives) == 0:
        return np.full(len(scores), np.nan)
    below = np.searchsorted(negatives, scores, side="left")
    at_most = np.searchsorted(negatives, scores, side="right")
    return (below + 0.5 * (at_most - below)) / len(negatives)


def strongest(attacks: Sequence[Mapping[str, Any]]) -> str | None:
    """The attack that finds most members at 0.1 % FPR (then 1 %, then AUC decides)."""
    if not attacks:
        return None

    def key(attack: Mapping[str, Any]) -> tuple[float, float, float]:
        m = attack["metrics"]
        return (m["tpr_at_01pct_fpr"], m["tpr_at_1pct_fpr"], m["auc"])

    return max(attacks, key=key)["name"]


def most_exposed(scores: np.ndarray, is_member: np.ndarray, k: int = EXPOSED) -> np.ndarray:
    """Positions of the ``k`` evaluation members with the highest scores, highest first
    (ties in evaluation order)."""
    members = np.flatnonzero(np.asarray(is_member, dtype=bool))
    order = np.argsort(-np.asarray(scores, dtype=np.float64)[members], kind="stable")
    return members[order[:k]]


AGREEMENT_FPR = (0.01, 0.1)  # the first rate one false positive resolves is used


def found_at(scores: np.ndarray, is_member: np.ndarray, fpr: float) -> np.ndarray:
    """Which members an attack flags at false-positive rate ``fpr``: those scoring above the
    (k+1)-th highest non-member, k = floor(fpr x non-members), so at most k non-members are
    flagged with them (the threshold behind TPR at that FPR). A boolean mask over records."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(is_member, dtype=bool)
    negatives = np.sort(scores[~labels])[::-1]
    allowed = allowed_false_positives(fpr, len(negatives))
    if allowed >= len(negatives):
        return labels.copy()
    return labels & (scores > negatives[allowed])


def allowed_false_positives(fpr: float, non_members: int) -> int:
    """How many non-members a threshold at ``fpr`` may flag: floor(fpr x non-members)."""
    return int(np.floor(fpr * non_members + 1e-9))


def agreement(scores: Mapping[str, np.ndarray], is_member: np.ndarray) -> dict[str, Any] | None:
    """Which members each attack finds at a low FPR and how many of them the others find too
    (``shared[a][b]``; ``shared[a][a]`` is what ``a`` finds), how many are found by one
    attack alone, by any, and by all. ``None`` with fewer than two attacks or no non-members."""
    labels = np.asarray(is_member, dtype=bool)
    negatives = int((~labels).sum())
    if len(scores) < 2 or negatives == 0 or not labels.any():
        return None
    fpr = next((r for r in AGREEMENT_FPR if resolves(r, 1 / negatives)), None)
    if fpr is None:
        return None
    masks = {name: found_at(s, labels, fpr) for name, s in scores.items()}
    hits = np.stack(list(masks.values())).sum(0)
    return {
        "fpr": fpr, "members": int(labels.sum()), "non_members": negatives,
        "false_positives": allowed_false_positives(fpr, negatives),
        "shared": {a: {b: int((masks[a] & masks[b]).sum()) for b in masks} for a in masks},
        "alone": {a: int((masks[a] & (hits == 1)).sum()) for a in masks},
        "any": int((hits > 0).sum()), "all": int((hits == len(masks)).sum()),
    }
