"""Threat models: what an attacker knows besides query access to the target."""

from __future__ import annotations

import enum


class ThreatModel(str, enum.Enum):
    """What the attacker knows besides query access to the target.

    ``KNOWN_MEMBERS``: a labelled subset of the target's members and as many non-members
    (the ART/Dioptra setting).
    ``POPULATION``: labelled records from the same distribution, disjoint from the members and
    the evaluation records, and reference models trained with the target's own recipe
    (Shokri et al.'s shadow models, LiRA, RMIA).
    ``LABEL_ONLY``: the known-members subsets, but the target answers predicted labels only,
    as a model behind an API often does (Choquette-Choo et al. 2021); asking it for logits
    is an error that names the attack.
    """

    KNOWN_MEMBERS = "known-members"
    POPULATION = "population"
    LABEL_ONLY = "label-only"
