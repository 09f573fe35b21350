"""The core's layout as promised: no import circle, small files and functions, one sentence
per module, no plugin imported by the core, one table of component kinds."""

import ast
from pathlib import Path

import pytest

from mia_core import hookspecs
from mia_core.catalog.kinds import KINDS
from mia_core.catalog.registry import interface_problem

from .conftest import ROOT

CORE = ROOT / "src" / "mia_core"
MODULES = {".".join(p.relative_to(CORE.parent).with_suffix("").parts).removesuffix(".__init__"): p
           for p in CORE.rglob("*.py")}
# every package of every plugin distribution in this repository (plugins/*/src/*), and the
# examples': the core imports none of them
PLUGIN_PACKAGES = tuple(sorted(
    {p.name for p in ROOT.glob("plugins/*/src/*") if (p / "__init__.py").exists()}
    | {p.parent.name for p in ROOT.glob("examples/*/*/__init__.py")}
    | {p.stem for p in ROOT.glob("examples/*/mia_*.py")}))


def imports_of(name: str, path: Path) -> set[str]:
    """Core modules that ``name`` imports (module level or inside functions, type-only too)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            candidates = [base, *(f"{base}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        found |= {c for c in candidates if c in MODULES and c != name}
    return found


def graph() -> dict[str, set[str]]:
    # a package's face (its __init__) hands names on; the arrows that count are module to module
    return {name: {t for t in imports_of(name, path) if not t.startswith(f"{name}.")}
            for name, path in MODULES.items()}


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target):], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_import_circle():
    assert find_cycles(graph()) == []


def room(name: str) -> str:
    """A module's room when each sub-package is drawn as one: ``mia_core.training``."""
    return ".".join(name.split(".")[:2])


def test_no_circle_between_sub_packages():
    rooms: dict[str, set[str]] = {}
    for source, targets in graph().items():
        rooms.setdefault(room(source), set()).update(
            room(t) for t in targets if room(t) != room(source))
    rooms.pop("mia_core")  # the public face imports everything and nothing imports it back
    for targets in rooms.values():
        targets.discard("mia_core")
    assert find_cycles(rooms) == []
    stack = ["training", "results", "default_plugins", "catalog", "experiment", "cli"]
    for i, low in enumerate(stack):
        for high in stack[i + 1:]:
            assert f"mia_core.{high}" not in rooms[f"mia_core.{low}"], (low, high)


def test_the_circle_check_finds_circles():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    edges = graph()  # the graph is real: late and type-only imports count
    assert "mia_core.training.divergence" in edges["mia_core.training.dp"]
    assert "mia_core.references" in edges["mia_core.context"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_small_files_small_functions_one_sentence(name):
    path = MODULES[name]
    text = path.read_text()
    assert len(text.splitlines()) <= 300, f"{path} has over 300 lines"
    tree = ast.parse(text)
    docstring = ast.get_docstring(tree)
    assert docstring and docstring.strip(), f"{path} does not open with its one concept"
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            assert length <= 60, f"{path}: {node.name} has {length} lines"


def test_the_core_never_imports_a_plugin():
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.split(".")[0] in PLUGIN_PACKAGES], name


def test_the_guard_knows_every_plugin_package():
    assert len(list(ROOT.glob("plugins/*/pyproject.toml"))) == 10
    assert {"mia_mnist_data", "mia_image_data", "mia_tabular_data", "mia_cnn_target",
            "mia_mlp_target", "mia_wrn_target", "mia_torch_attack", "mia_ray_executor",
            "mia_mlflow_tracking", "mia_text"} <= set(PLUGIN_PACKAGES)


def test_one_table_of_kinds_matches_hooks_and_protocols():
    assert {k.hook for k in KINDS} | {"register_commands"} == {
        n for n in dir(hookspecs) if n.startswith("register_")}
    for kind in KINDS:
        assert callable(getattr(kind.protocol, kind.method))

        class Nothing:
            pass

        assert interface_problem(kind.name, Nothing(), built=True) == (
            f"has no {kind.method}() method (a {kind.name} needs one)")


def test_readme_layout_names_every_sub_package():
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout")[1].split("\n## ")[0]
    for package in sorted(p.parent.name for p in CORE.glob("*/__init__.py")):
        assert f"{package}/" in layout, f"README's Layout does not show {package}/"


def test_mutation_testing_covers_every_module_of_the_core_and_the_attacks():
    """``make mutation`` (tools/mutation.py) mutates every module of mia_core and of the
    attack plugin, each with tests that exist."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mutation", ROOT / "tools" / "mutation.py")
    mutation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mutation)
    assert mutation.modules() - mutation.covered() == set()
    assert len(mutation.modules()) > 70
    for _, tests in mutation.GROUPS.values():
        assert all((ROOT / t).is_file() for t in tests), tests
