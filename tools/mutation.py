"""``make mutation``: mutation testing (mutmut) of the modules where a wrong result is silent.

mutmut imports mutated code from ``mutants/src``, so the core and the attack plugin are laid out
side by side under ``build/mutation/src`` first; the installed (editable) packages are shadowed
by the mutated copies. Slow (minutes to an hour): not part of ``make test`` or CI.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "build" / "mutation"
PACKAGES = {"mia_core": ROOT / "src" / "mia_core",
            "mia_torch_attack": ROOT / "plugins" / "torch_attack" / "src" / "mia_torch_attack"}
# Where a wrong number goes unnoticed: metrics, splits, signals and attacks, the model cache,
# the registry, options and plugin selection.
MODULES = [
    "src/mia_core/metrics.py", "src/mia_core/splits.py", "src/mia_core/cache.py",
    "src/mia_core/registry.py", "src/mia_core/options.py", "src/mia_core/selection.py",
    "src/mia_core/references.py",
    "src/mia_torch_attack/signals.py", "src/mia_torch_attack/threshold.py",
    "src/mia_torch_attack/lira.py", "src/mia_torch_attack/rmia.py",
    "src/mia_torch_attack/shadow.py", "src/mia_torch_attack/features.py",
    "src/mia_torch_attack/mlp.py", "src/mia_torch_attack/blackbox.py",
]
TESTS = ["tests/test_metrics.py", "tests/test_splits.py", "tests/test_properties.py",
         "tests/test_attack_math.py", "tests/test_promises.py", "tests/test_cache.py",
         "tests/test_plugins.py", "tests/test_registry.py", "tests/test_options.py",
         "tests/test_selection.py", "tests/test_configfile.py"]
# tests/test_attacks.py is left out: it trains two experiments per run (15 s), which every
# mutant of an attack would pay; tests/test_attack_math.py checks the same code piece by piece.


def stage() -> None:
    """A fresh copy: the packages under src/, the tests, and mutmut's settings."""
    keep = STAGE / "mutants"  # mutmut's own cache of results: kept between runs
    if STAGE.exists():
        for child in STAGE.iterdir():
            if child != keep:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    for name, source in PACKAGES.items():
        shutil.copytree(source, STAGE / "src" / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", STAGE / "tests", ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info", "example_plugin"))
    listed = ", ".join(f'"{m}"' for m in MODULES)
    tests = ", ".join(f'"{t}"' for t in TESTS)
    (STAGE / "pyproject.toml").write_text(f"""\
[tool.mutmut]
source_paths = ["src"]
only_mutate = [{listed}]
pytest_add_cli_args = ["-p", "no:randomly", "-p", "no:cacheprovider", "-q"]
pytest_add_cli_args_test_selection = [{tests}]
process_isolation = "forkserver"
timeout_multiplier = 3.0
timeout_constant = 5.0

[tool.pytest.ini_options]
testpaths = ["tests"]
""")


def summary() -> str:
    """Killed / survived / other per module, from ``mutmut results --all true``."""
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=STAGE,
                         capture_output=True, text=True).stdout
    counts: dict[str, Counter] = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\w.]+)\.x_\w+__mutmut_\d+: (.+)", line)
        if m:
            module = m.group(1)
            counts.setdefault(module, Counter())[m.group(2).strip()] += 1
    lines = [f"{'module':40} {'killed':>7} {'survived':>9} {'other':>6} {'score':>6}"]
    total = Counter()
    for module, c in sorted(counts.items()):
        killed, survived = c["killed"], c["survived"]
        other = sum(c.values()) - killed - survived
        total.update(c)
        score = killed / max(killed + survived, 1)
        lines.append(f"{module:40} {killed:7d} {survived:9d} {other:6d} {score:6.1%}")
    killed, survived = total["killed"], total["survived"]
    lines.append(f"{'all':40} {killed:7d} {survived:9d} "
                 f"{sum(total.values()) - killed - survived:6d} "
                 f"{killed / max(killed + survived, 1):6.1%}")
    return "\n".join(lines)


def main() -> int:
    STAGE.mkdir(parents=True, exist_ok=True)
    stage()
    args = sys.argv[1:]
    if args[:1] != ["--summary"]:
        code = subprocess.run([sys.executable, "-m", "mutmut", "run", *args], cwd=STAGE).returncode
        if code:
            return code
    print(summary())
    print(f"survivors: cd {STAGE.relative_to(ROOT)} && mutmut results; "
          "mutmut show NAME for the diff")
    return 0


if __name__ == "__main__":
    sys.exit(main())
