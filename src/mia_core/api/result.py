"""What :func:`mia_core.audit` returns: the runs' results, their folder and their command."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from mia_core.errors import ConfigError

if TYPE_CHECKING:
    from mia_core.results.types import ExperimentResult


@attrs.frozen(repr=False)
class Audit:
    """What :func:`audit` found: ``results`` (one per seed), the ``folder`` holding
    results.json, the scores and the report, and the ``command`` that reruns it."""

    results: tuple[ExperimentResult, ...]
    folder: Path
    arguments: tuple[str, ...]

    @property
    def result(self) -> ExperimentResult:
        """The run's result (the first seed's, with several)."""
        return self.results[0]

    @property
    def table(self) -> str:
        """The summary the command line prints: the table of attacks and what it rests on."""
        from mia_core.cli.mia_run import summarise_seeds

        return summarise_seeds(list(self.results), as_json=False)

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """Each attack's metrics (AUC, TPR at low FPR, ε bounds ...) by attack name, as in
        results.json."""
        written = json.loads(json.dumps(self.result.to_dict()))  # lists, as the file holds
        return {a["name"]: a["metrics"] for a in written["attacks"]}

    @property
    def command(self) -> str:
        """The ``mia-run`` command line of this audit (its files are in :attr:`folder`)."""
        return shlex.join(["mia-run", *self.arguments])

    @property
    def report_file(self) -> Path:
        from mia_core.results.files import REPORT_FILE

        return self.folder / REPORT_FILE

    def write_report(self, path: str | Path) -> Path:
        """Write the HTML report (ROC, table, ε bounds, the most exposed records) to
        ``path``, never over an existing file; returns the path."""
        from mia_core.results.report import write_report

        path = Path(path)
        if path.exists():
            raise ConfigError(f"{path} exists; choose another file for the report")
        write_report([self.folder], path)
        return path

    def roc(self) -> Any:
        """The ROC curves as an image (shown inline in a notebook)."""
        from IPython.display import Image

        return Image(filename=str(self.folder / "roc.png"))

    def __str__(self) -> str:
        return self.table

    def __repr__(self) -> str:
        return self.table

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(self.table)}</pre>"
