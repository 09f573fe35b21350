"""Errors the user can act on.

Everything the CLI shows as one line derives from :class:`MiaError`; anything else is a bug
and keeps its traceback (visible with ``--debug``).
"""

from __future__ import annotations

from typing import Any


class MiaError(Exception):
    """A runtime problem with a clear fix (missing data, unavailable device ...); exit code 1."""

    exit_code = 1


class ConfigError(MiaError):
    """The user asked for something invalid (unknown name, bad option value ...); exit code 2."""

    exit_code = 2


class PluginError(MiaError):
    """A plugin broke the contract (bad registration, hook raised, wrong return type)."""


class TrainingDiverged(PluginError):
    """Training produced a non-finite loss; the core names the component that trained."""


class ReportError(MiaError):
    """The experiment finished but a reporter could not deliver it; the result is kept so the
    summary can still be shown."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result
