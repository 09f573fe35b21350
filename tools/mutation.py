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
# Where a wrong number goes unnoticed, each module group with the tests that check it (mutmut
# runs, for each mutant, the selected tests that reach the mutated function; a group keeps the
# slow end-to-end tests away from modules that every experiment touches, such as the metrics).
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "attacks": (["src/mia_torch_attack/*.py"], ["tests/test_attack_math.py"]),
    "numbers": (["src/mia_core/results/metrics.py", "src/mia_core/splits.py"],
                ["tests/test_metrics.py", "tests/test_splits.py", "tests/test_properties.py",
                 "tests/test_report.py"]),
    "models": (["src/mia_core/training/cache.py", "src/mia_core/references.py",
                "src/mia_core/experiment/models.py", "src/mia_core/experiment/run.py"],
               ["tests/test_cache.py", "tests/test_promises.py", "tests/test_attack_math.py"]),
    "plugins": (["src/mia_core/catalog/registry.py", "src/mia_core/options.py",
                 "src/mia_core/catalog/selection.py", "src/mia_core/experiment/plan.py",
                 "src/mia_core/capabilities.py"],
                ["tests/test_registry.py", "tests/test_options.py", "tests/test_selection.py",
                 "tests/test_plugins.py", "tests/test_configfile.py",
                 "tests/test_capabilities.py", "tests/test_hardening.py"]),
}


def stage(group: str) -> Path:
    """A fresh copy for ``group``: the packages under src/, the tests, mutmut's settings."""
    folder = STAGE / group
    keep = folder / "mutants"  # mutmut's own cache of results: kept between runs
    folder.mkdir(parents=True, exist_ok=True)
    for child in folder.iterdir():
        if child != keep:
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    for name, source in PACKAGES.items():
        shutil.copytree(source, folder / "src" / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", folder / "tests", ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info", "example_plugin"))
    modules, selected = GROUPS[group]
    listed = ", ".join(f'"{m}"' for m in modules)
    tests = ", ".join(f'"{t}"' for t in selected)
    (folder / "pyproject.toml").write_text(f"""\
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
    return folder


def summary(groups: list[str]) -> str:
    """Killed / survived / other per module, from ``mutmut results --all true``."""
    counts: dict[str, Counter] = {}
    for group in groups:
        out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                             cwd=STAGE / group, capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.match(r"\s*([\w.]+?)\.x[_\u01c1].*__mutmut_\d+: (.+)", line)
            if m:
                counts.setdefault(m.group(1), Counter())[m.group(2).strip()] += 1
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
    """``tools/mutation.py [--summary] [GROUP ...] [-- MUTMUT-RUN-ARGS]``."""
    args = sys.argv[1:]
    extra = args[args.index("--") + 1:] if "--" in args else []
    args = args[:args.index("--")] if "--" in args else args
    only_summary = "--summary" in args
    groups = [a for a in args if a != "--summary"] or list(GROUPS)
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        print(f"unknown group(s) {', '.join(unknown)}; use {', '.join(GROUPS)}", file=sys.stderr)
        return 2
    for group in groups:
        folder = stage(group)
        if not only_summary:
            print(f"== {group}: {', '.join(GROUPS[group][0])}", flush=True)
            code = subprocess.run([sys.executable, "-m", "mutmut", "run", *extra],
                                  cwd=folder).returncode
            if code:
                return code
    print(summary(groups))
    print(f"survivors: cd {STAGE.relative_to(ROOT)}/GROUP && mutmut results; "
          "mutmut show NAME for the diff")
    return 0


if __name__ == "__main__":
    sys.exit(main())
