"""Which records an attack exposes: a per-record risk, the strongest attack, the top records.

A score means nothing across attacks (LiRA's is a likelihood ratio, a threshold attack's a
log-probability); what a reader can act on is how far above the non-members a record
stands. A record's **risk** is the share of evaluation non-members that score below it (ties
count half): 0.999 means flagging it as a member would have a false-positive rate of 0.1 %.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

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
