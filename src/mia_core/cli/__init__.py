"""The command line: the `mia` group, `mia-run`, config files and listings.

``mia_core.cli.run``, the ``mia-run`` command as plugin authors were told to test with
(docs of 28 Nov 2026), still works for one release with a ``DeprecationWarning``; the command
now lives in :mod:`mia_core.cli.mia_run`.
"""

from __future__ import annotations

import warnings
from typing import Any


def __getattr__(name: str) -> Any:
    if name == "run":
        warnings.warn("mia_core.cli.run is deprecated since mia-core 0.2.0 and goes in 0.3.0: "
                      "use mia_core.cli.mia_run.run (the mia-run command), or "
                      "mia_core.testing.run to run an experiment without the command line",
                      DeprecationWarning, stacklevel=2)
        from mia_core.cli.mia_run import run

        return run
    raise AttributeError(f"module 'mia_core.cli' has no attribute {name!r}")
