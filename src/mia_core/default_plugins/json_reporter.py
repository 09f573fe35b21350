"""The built-in ``json`` reporter: the result files in the --output folder."""

from __future__ import annotations

from mia_core.errors import ConfigError
from mia_core.hookspecs import hookimpl
from mia_core.results.files import write_output
from mia_core.results.types import ExperimentResult, ReportEnv, RunArtifacts


class JsonReporter:
    """results.json, evaluation.csv, split.json, roc.csv and roc.png in the --output folder."""

    def report(self, result: ExperimentResult, artifacts: RunArtifacts,
               env: ReportEnv) -> list[str]:
        if env.output is None:
            raise ConfigError("the json reporter writes into a folder: add --output DIR")
        return [str(p) for p in write_output(env.output, result, artifacts, env.progress)]


@hookimpl
def register_reporters(register):
    register("json", JsonReporter, description="Result files in --output DIR (results.json, "
             "evaluation.csv, split.json, ROC curve and plot)")
