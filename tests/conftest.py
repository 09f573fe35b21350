from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Training formats follow the CPU-flag rule in tests: a measured choice would depend on how
# busy the machine was when a shape was first seen (tests/test_formats.py measures on purpose).
os.environ.setdefault("MIA_FORMATS", "off")

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on two cores:
    import torch  # one torch thread each, or they oversubscribe the cores

    torch.set_num_threads(1)


@attrs.frozen
class FakeDist:
    name: str
    version: str


@attrs.frozen
class FakeEntryPoint:
    """Duck-typed importlib.metadata.EntryPoint pointing at an in-memory module."""

    name: str
    module: types.ModuleType | None
    dist: FakeDist
    value: str = "fake.module"
    error: Exception | None = None

    def load(self):
        if self.error is not None:
            raise self.error
        return self.module


_CREATED: set[str] = set()  # modules made by make_module, removed after each test


def make_module(name: str, source: str) -> types.ModuleType:
    """Build a plugin module from source (registered in sys.modules like a real import, and
    removed again when the test ends)."""
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    sys.modules[name] = module
    _CREATED.add(name)
    return module


def loss_attack_module(module: str, attack: str) -> types.ModuleType:
    """A plugin module, not installed, registering a low-loss known-members attack ``attack``
    (the same signal as loss-threshold, without its threshold)."""
    return make_module(module, f"""
from mia_core import ThreatModel, hookimpl

class LowLoss:
    threat_model = ThreatModel.KNOWN_MEMBERS
    def score(self, ctx):
        return -ctx.target.loss(ctx.evaluation.x, ctx.evaluation.y)

@hookimpl
def register_attacks(register):
    register({attack!r}, LowLoss, description="not installed anywhere")
""")


@pytest.fixture(autouse=True)
def forget_test_modules():
    yield
    for name in _CREATED:
        sys.modules.pop(name, None)
    _CREATED.clear()


@pytest.fixture
def fake_entry_points(monkeypatch):
    """Replace entry-point discovery with the given fake entry points."""

    def install(*eps: FakeEntryPoint) -> None:
        monkeypatch.setattr("mia_core.catalog.loading.discover", lambda group="mia_core": list(eps))

    return install


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST files (MIA_DATA_DIR, else ../shared/data/mnist)."""
    candidates = [os.environ.get("MIA_DATA_DIR"), str(ROOT.parent / "shared" / "data" / "mnist")]
    for c in candidates:
        if c and (Path(c) / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
            return Path(c)
    pytest.fail("real MNIST not found: set MIA_DATA_DIR to a folder holding MNIST/raw/*")


@pytest.fixture(autouse=True)
def private_model_cache(tmp_path, monkeypatch):
    """Each test has its own model cache (never the user's, never another test's)."""
    folder = tmp_path / "model-cache"
    monkeypatch.setenv("MIA_CACHE_DIR", str(folder))
    return folder
