"""``make mutation``: mutation testing (mutmut) of the modules where a wrong result is silent.

mutmut imports mutated code from ``mutants/src``, so the core and the attack plugin are laid out
side by side under ``build/mutation/src`` first; the installed (editable) packages are shadowed
by the mutated copies. Slow (minutes to an hour): not part of ``make test`` or CI.
"""

from __future__ import annotations

import fnmatch
import json
import random
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
                "src/mia_core/results/repeats.py"],
               ["tests/test_gdp.py", "tests/test_bootstrap.py", "tests/test_audit.py",
                "tests/test_privacy.py", "tests/test_report.py"]),
    "models": (["src/mia_core/training/cache.py", "src/mia_core/references.py",
                "src/mia_core/experiment/models.py", "src/mia_core/experiment/run.py",
                "src/mia_core/experiment/sources.py",
                "src/mia_core/experiment/phases.py", "src/mia_core/experiment/scoring.py",
                "src/mia_core/experiment/canaries.py", "src/mia_core/experiment/device.py",
                "src/mia_core/experiment/compatibility.py", "src/mia_core/context.py",
                "src/mia_core/answers.py",
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
               "tests/test_mnist_loader.py", "tests/test_image_data.py"]),
    "reports": (["src/mia_core/results/report.py", "src/mia_core/results/summary.py",
                 "src/mia_core/results/exposure.py",
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
    "api": (["src/mia_core/api/*.py"],
            ["tests/test_api.py"]),
    "cli": (["src/mia_core/cli/*.py", "src/mia_core/errors.py", "src/mia_core/progress.py",
             "src/mia_core/atomic.py"],
            ["tests/test_cli.py", "tests/test_hardening.py", "tests/test_group.py",
             "tests/test_interrupts.py", "tests/test_configfile.py"]),
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
            child.unlink() if child.is_symlink() or not child.is_dir() else shutil.rmtree(child)
    for name, source in PACKAGES.items():
        shutil.copytree(source, folder / "src" / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", folder / "tests", ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info", "example_plugin"))
    modules, selected = GROUPS[group]
    refresh(folder, modules)
    link_checkout(folder)
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


# mutmut's exit codes, as its own ``stats.status_by_exit_code`` reads them.
KILLED, SURVIVED, TIMEOUT = {1, 3}, {0}, {24, -24, 36, 152, 255}


def mutants(group: str) -> dict[str, dict[str, int | None]]:
    """Every generated mutant of ``group``, per module: name -> mutmut's exit code (None: not
    checked yet). Read from mutmut's own ``.meta`` files."""
    found: dict[str, dict[str, int | None]] = {}
    root = STAGE / group / "mutants" / "src"
    patterns = [pattern.removeprefix("src/") for pattern in GROUPS[group][0]]
    for meta in sorted(root.rglob("*.py.meta")) if root.is_dir() else []:
        path = meta.relative_to(root).as_posix().removesuffix(".meta")
        if not any(fnmatch.fnmatch(path, pattern) for pattern in patterns):
            continue  # a module that has since moved to another group
        module = path.removesuffix(".py").replace("/", ".")
        found[module] = json.loads(meta.read_text())["exit_code_by_key"]
    return found


def generate(group: str) -> None:
    """Have mutmut write the group's mutants (and its test statistics) without testing any.

    mutmut has no command for that alone: ``run`` with a name that matches no mutant does
    both steps and then stops on the empty selection (which is all that is wanted here)."""
    folder = STAGE / group
    done = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", "1",
                           "no-such-mutant"], cwd=folder, capture_output=True, text=True)
    if not mutants(group):
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"mutmut wrote no mutants for {group}; its output is above")


def sample(group: str, size: int) -> dict[str, list[str]]:
    """``size`` mutants per module, drawn at random (seeded by the module's name, so a rerun
    draws the same ones and reuses mutmut's results)."""
    return {module: sorted(random.Random(module).sample(sorted(names), min(size, len(names))))
            for module, names in mutants(group).items()}


# What tests read from the checkout beside src/ and tests/ (examples, configs, the README):
# linked into the stage and into mutmut's copy, where the tests run.
LINKED = ("examples", "configs", "docs", "plugins", "benchmarks", "README.md", "CHANGELOG.md",
          "Makefile")


def link_checkout(folder: Path) -> None:
    for name in LINKED:
        for place in (folder, folder / "mutants"):
            place.mkdir(parents=True, exist_ok=True)
            link = place / name
            if not link.is_symlink() and (ROOT / name).exists():
                link.symlink_to(ROOT / name)


def refresh(folder: Path, modules: list[str]) -> None:
    """Bring mutmut's kept copy (``mutants/``) up to date with everything it does not mutate.

    mutmut regenerates a mutated module whose source changed, but copies every other file
    (unmutated modules, templates, the tests) only when it is missing: a kept copy would
    otherwise test today's mutants against last month's report template or tests."""
    kept = folder / "mutants"
    if not kept.is_dir():
        return
    mutated = {p for pattern in modules for p in folder.glob(pattern)}
    for path in (folder / "src").rglob("*"):
        if path.is_file() and path not in mutated:
            target = kept / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    shutil.rmtree(kept / "tests", ignore_errors=True)
    shutil.copytree(folder / "tests", kept / "tests")


def summary(groups: list[str], only: set[str] | None = None) -> str:
    """Killed / survived / timed out per module (``only``: just these mutants, e.g. a sample);
    a timeout counts as detected (docs/mutation.md)."""
    counts: dict[str, Counter] = {}
    for group in groups:
        for module, codes in mutants(group).items():
            c = counts.setdefault(module, Counter())
            for name, code in codes.items():
                if only is not None and name not in only:
                    continue
                c["total"] += 1
                c["killed" if code in KILLED else "survived" if code in SURVIVED
                  else "timeout" if code in TIMEOUT else "unchecked" if code is None
                  else "other"] += 1
    lines = [f"{'module':40} {'mutants':>7} {'killed':>7} {'timeout':>7} {'survived':>8} "
             f"{'other':>5} {'score':>6}"]
    total: Counter = Counter()

    def row(name: str, c: Counter) -> str:
        detected = c["killed"] + c["timeout"]
        tested = detected + c["survived"]
        score = f"{detected / tested:6.1%}" if tested else f"{'-':>6}"
        return (f"{name:40} {c['total']:7d} {c['killed']:7d} {c['timeout']:7d} "
                f"{c['survived']:8d} {c['other'] + c['unchecked']:5d} {score}")

    for module, c in sorted(counts.items()):
        if c["total"]:
            total.update(c)
            lines.append(row(module, c))
    lines.append(row("all", total))
    return "\n".join(lines)


def main() -> int:
    """``tools/mutation.py [--summary] [--sample N [--survivors] [--module PATTERN]...]
    [GROUP ...] [-- MUTMUT-RUN-ARGS]``.

    ``--sample N`` tests N mutants of each module drawn at random instead of all of them:
    a score in minutes rather than hours (the summary then counts the sample only);
    ``--survivors`` tests the sample's survivors again, after tests were added for them;
    ``--module`` (e.g. ``mia_core.queries``, shell-style patterns) samples those modules only."""
    args = sys.argv[1:]
    extra = args[args.index("--") + 1:] if "--" in args else []
    args = args[:args.index("--")] if "--" in args else args
    only_summary = "--summary" in args
    again = "--survivors" in args  # retest the sample's survivors (after new tests)
    args = [a for a in args if a != "--survivors"]
    only: list[str] = []  # --module PATTERN: sample these modules of the group only
    while "--module" in args:
        at = args.index("--module")
        only += args[at + 1:at + 2]
        del args[at:at + 2]
    size = None
    if "--sample" in args:
        at = args.index("--sample")
        if at + 1 >= len(args) or not args[at + 1].isdigit() or int(args[at + 1]) < 1:
            print("--sample needs a number of mutants per module, e.g. --sample 20",
                  file=sys.stderr)
            return 2
        size = int(args[at + 1])
        del args[at:at + 2]
    groups = [a for a in args if a != "--summary"] or list(GROUPS)
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        print(f"unknown group(s) {', '.join(unknown)}; use {', '.join(GROUPS)}", file=sys.stderr)
        return 2
    chosen: set[str] | None = None if size is None else set()
    for group in groups:
        if not only_summary:
            folder = stage(group)
            print(f"== {group}: {', '.join(GROUPS[group][0])}", flush=True)
            names: list[str] = []
            if size is not None:
                generate(group)
                codes = {n: c for per in mutants(group).values() for n, c in per.items()}
                drawn = [n for module, per in sample(group, size).items() for n in per
                         if not only or any(fnmatch.fnmatch(module, o) for o in only)]
                wanted = SURVIVED if again else {None}  # else the rest are known already
                names = [n for n in drawn if codes[n] in wanted]
                print(f"   {len(drawn)} mutants drawn, {len(names)} "
                      f"{'survivors to retest' if again else 'not yet tested'}", flush=True)
                if not names:
                    continue
            code = subprocess.run([sys.executable, "-m", "mutmut", "run", *extra, *names],
                                  cwd=folder).returncode
            if code:
                return code
        if chosen is not None:
            chosen |= {n for module, per in sample(group, size).items() for n in per
                       if not only or any(fnmatch.fnmatch(module, o) for o in only)}
    print(summary(groups, chosen))
    print(f"survivors: cd {STAGE.relative_to(ROOT)}/GROUP && mutmut results; "
          "mutmut show NAME for the diff")
    return 0


if __name__ == "__main__":
    sys.exit(main())
