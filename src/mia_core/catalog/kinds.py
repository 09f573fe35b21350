"""The component kinds: the one table that hooks, registries, checks and listings read."""

from __future__ import annotations

import attrs

from mia_core.capabilities import ReferenceFreeAttack
from mia_core.protocols import Attack, Dataset, Executor, Reporter, Target
from mia_core.training.targets import TrainlessTarget


@attrs.frozen
class Kind:
    """One kind of component: ``name`` (as in ``--list-plugins``), the collector ``hook`` a
    plugin implements to provide it, the ``method`` every instance must have, the
    ``protocol`` that describes it for type checkers, the capabilities whose flags
    (``Literal`` attributes, such as ``trains = False``) are checked when one registers, and
    whether a run chooses ``many`` of it (attacks, reporters: the run's setting is the plural,
    a list of names) or exactly one (the setting is the kind's name)."""

    name: str
    hook: str
    method: str
    protocol: type
    flags: tuple[type, ...] = ()
    many: bool = False

    @property
    def setting(self) -> str:
        """The run setting (``ExperimentConfig`` field) that names the chosen ones."""
        return self.plural if self.many else self.name

    @property
    def plural(self) -> str:
        return f"{self.name}s"


KINDS: tuple[Kind, ...] = (
    Kind("dataset", "register_datasets", "load", Dataset),
    Kind("target", "register_targets", "fit", Target, (TrainlessTarget,)),
    Kind("attack", "register_attacks", "score", Attack, (ReferenceFreeAttack,), many=True),
    Kind("reporter", "register_reporters", "report", Reporter, many=True),
    Kind("executor", "register_executors", "run", Executor),
)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def names_text() -> str:
    """'dataset, target, attack, reporter or executor', for messages."""
    return ", ".join(NAMES[:-1]) + f" or {NAMES[-1]}"
