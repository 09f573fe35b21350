"""The example notebook runs in a real Jupyter kernel (nbclient) with no error, shows the
table, the ROC and a notebook progress bar, and is kept in git without outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "notebooks" / "audit_your_model.ipynb"

# appended by the test only: the kernel's interpreter and a bar drawn by mia-core's progress
CHECKS = """import sys
from mia_core.progress import in_notebook, progress_for
print("kernel:", sys.executable, "in notebook:", in_notebook())
with progress_for(False).bar("checking the bar", 3) as advance:
    advance(3)"""


def test_the_notebook_is_kept_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_the_notebook_runs_in_a_jupyter_kernel_and_shows_the_audit(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel beside another test worker
    monkeypatch.setenv("MIA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the audit's folder, removed with the test's
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECKS))
    NotebookClient(notebook, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                   for o in outputs)
    # the audit's table, as the command line prints it
    for line in ("target: train accuracy", "loss-threshold", "lira", "rmia", "AUC"):
        assert line in html, line
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the ROC, inline
    assert "--target python -o python.model=__main__:SmallCNN" in text
    assert "-o python.train=__main__:train" in text and "--workers 1" in text
    # the user's loop trained the four reference models, in the kernel's own process
    assert text.count("training: train() of __main__:train on") == 4
    kernel = text.split("kernel: ")[1].split(" in notebook:")[0]
    assert Path(kernel).resolve() == Path(sys.executable).resolve()
    assert "in notebook: True" in text
    assert "<progress value='3' max='3'" in html  # the bar, drawn and finished in the cell
