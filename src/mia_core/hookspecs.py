"""The hooks a mia-core plugin may implement.

Each hook is a *collector*: it receives a ``register`` callable and calls it once per thing it
provides. Registration (not return values) lets one plugin provide several components and lets
the core record which plugin provided which name.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

PROJECT = "mia_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """What every collector hook receives: call it once per component provided.

    ``name``: lower-case letters, digits, ``-`` or ``_``. ``factory``: a class or callable
    taking the options object (or nothing, without ``options``). ``description``: its first
    line is listed. ``options``: an attrs class of typed fields (see :func:`mia_core.option`).
    """

    def __call__(self, name: str, factory: Any, description: str = "",
                 options: type | None = None) -> None: ...


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets: ``register(name, factory, description=..., options=...)``.

    ``factory(options)`` returns an object with ``load(env: LoadEnv) -> LabeledData |
    Records``: ``Records`` for records without classes or of varying length (``lengths``).
    The core draws members and non-members from the records it returns, by row.
    """


@hookspec
def register_targets(register: Register) -> None:
    """Register target models: ``register(name, factory, description=..., options=...)``.

    ``factory(options)`` returns an object with ``fit(data: LabeledData | Records, env:
    TrainEnv) -> torch.nn.Module``: build the model and train it on exactly the records given
    (the members). Its models answer with logits over classes unless it says otherwise with
    ``answers = mia_core.Answers(...)`` (say, a language model's per-token log-probabilities);
    the core checks every model's answers to a few of its records.
    """


@hookspec
def register_attacks(register: Register) -> None:
    """Register attacks: ``register(name, factory, description=..., options=...)``.

    ``factory(options)`` returns an object with ``threat_model`` (a :class:`ThreatModel`) and
    ``score(ctx: AttackContext) -> AttackOutput`` (or a tensor of scores): one membership
    score per evaluation record, higher meaning "more likely a member". ``needs_signals``
    (optional) names the signals of the target's models it reads (``mia_core.SIGNALS``);
    without it an attack reads class logits (labels when label-only), and a target whose
    models give no such signal is refused before training.
    """


@hookspec
def register_executors(register: Register) -> None:
    """Register executors: ``register(name, factory, description=..., options=...)``.

    ``factory(options)`` returns an object with ``run(task: TrainTask, jobs: list[TrainJob],
    env: ExecEnv)`` that trains every job (``task.train`` or ``mia_core.train_packed``,
    wherever it likes) and yields ``(job, trained)`` as each finishes, in any order;
    ``trained`` is a ``torch.nn.Module``, a state dict, or what ``mia_core.unpack_state``
    gives for the bytes ``mia_core.train_packed`` returned (for a ``task.query`` task: the
    weights and the model's logits on ``task.data``, computed where it was trained). The
    core checks each answer. Chosen with ``--executor NAME``.
    """


@hookspec
def register_reporters(register: Register) -> None:
    """Register result reporters: ``register(name, factory, description=..., options=...)``.

    ``factory(options)`` returns an object with ``report(result: ExperimentResult, artifacts:
    RunArtifacts, env: ReportEnv) -> list[str]``: write or send the finished run somewhere
    (files, a tracking server) and return where it went. Chosen with ``--reporter NAME``.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add sub-commands to the ``mia`` command group: ``cli`` is a ``click.Group``; call
    ``cli.command()`` or ``cli.add_command(...)``. Called only when the ``mia`` command needs
    its list of commands, one plugin at a time: a plugin that raises here loses its commands,
    never the others'.
    """
