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
# Every module of the core and of the attack plugin, in groups, each with the tests that check
# it (mutmut runs, for each mutant, the selected tests that reach the mutated function; a
# group keeps the slow end-to-end tests away from modules that every experiment touches, such
# as the metrics). tests/test_layout.py checks that no module is left out.
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "attacks": (["src/mia_torch_attack/*.py"],
                ["tests/test_attack_math.py", "tests/test_qmia.py", "tests/test_label_only.py",
                 "tests/test_queries.py"]),
    "numbers": (["src/mia_core/results/metrics.py", "src/mia_core/splits.py"],
                ["tests/test_metrics.py", "tests/test_splits.py", "tests/test_properties.py",
                 "tests/test_report.py"]),
    "audits": (["src/mia_core/results/gdp.py", "src/mia_core/results/bootstrap.py",
                "src/mia_core/results/audit.py", "src/mia_core/results/measure.py",
                "src/mia_core/results/exposure.py", "src/mia_core/results/repeats.py"],
               ["tests/test_gdp.py", "tests/test_bootstrap.py", "tests/test_audit.py",
                "tests/test_privacy.py", "tests/test_report.py"]),
    "models": (["src/mia_core/training/cache.py", "src/mia_core/references.py",
                "src/mia_core/experiment/models.py", "src/mia_core/experiment/run.py",
                "src/mia_core/experiment/phases.py", "src/mia_core/experiment/scoring.py",
                "src/mia_core/experiment/canaries.py", "src/mia_core/experiment/device.py",
                "src/mia_core/experiment/compatibility.py", "src/mia_core/context.py",
                "src/mia_core/queries.py", "src/mia_core/data.py", "src/mia_core/threats.py"],
               ["tests/test_cache.py", "tests/test_promises.py", "tests/test_attack_math.py",
                "tests/test_queries.py", "tests/test_hardening.py"]),
    "training": (["src/mia_core/training/*.py", "src/mia_core/default_plugins/*.py"],
                 ["tests/test_dp_realised.py", "tests/test_batched.py", "tests/test_formats.py",
                  "tests/test_privacy.py", "tests/test_recipe_growth.py",
                  "tests/test_executors.py", "tests/test_promises.py"]),
    "given": (["src/mia_core/experiment/given.py", "src/mia_core/experiment/external.py",
               "src/mia_core/config.py", "src/mia_core/results/scorefile.py",
               "src/mia_core/downloads.py"],
              ["tests/test_given_model.py", "tests/test_configfile.py",
               "tests/test_html_report.py", "tests/test_tabular.py",
               "tests/test_mnist_loader.py"]),
    "reports": (["src/mia_core/results/report.py", "src/mia_core/results/summary.py",
                 "src/mia_core/results/files.py", "src/mia_core/results/runfiles.py",
                 "src/mia_core/results/plots.py", "src/mia_core/results/types.py"],
                ["tests/test_html_report.py", "tests/test_report.py", "tests/test_cli.py"]),
    "plugins": (["src/mia_core/catalog/*.py", "src/mia_core/options.py",
                 "src/mia_core/experiment/plan.py", "src/mia_core/capabilities.py",
                 "src/mia_core/hookspecs.py", "src/mia_core/protocols.py",
                 "src/mia_core/fieldmap.py", "src/mia_core/testing.py",
                 "src/mia_core/plugins.py"],
                ["tests/test_registry.py", "tests/test_options.py", "tests/test_selection.py",
                 "tests/test_plugins.py", "tests/test_configfile.py",
                 "tests/test_capabilities.py", "tests/test_hardening.py",
                 "tests/test_testing_helper.py", "tests/test_deprecations.py"]),
    "cli": (["src/mia_core/cli/*.py", "src/mia_core/errors.py", "src/mia_core/progress.py",
             "src/mia_core/atomic.py"],
            ["tests/test_cli.py", "tests/test_hardening.py", "tests/test_group.py",
             "tests/test_signals.py", "tests/test_configfile.py"]),
}


def covered() -> set[str]:
    """Every module path (relative to the staged src/) that some group mutates."""
    found = set()
    for modules, _ in GROUPS.values():
        for pattern in modules:
            package, _, rest = pattern.removeprefix("src/").partition("/")
            found |= {f"src/{package}/{p.relative_to(PACKAGES[package]).as_posix()}"
                      for p in PACKAGES[package].glob(rest)}
    return found


def modules() -> set[str]:
    """Every module of the packages mutation testing is for (``__init__`` files aside)."""
    return {f"src/{name}/{p.relative_to(root).as_posix()}" for name, root in PACKAGES.items()
            for p in root.rglob("*.py") if p.name != "__init__.py"}


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
