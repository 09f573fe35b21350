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
    """

    KNOWN_MEMBERS = "known-members"
    POPULATION = "population"
