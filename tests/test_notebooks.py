"""Every notebook in notebooks/ runs top to bottom without an error, and every notebook is stored without outputs.

The notebooks run in a fresh `python3` kernel (jupyter_client starts it with this interpreter, so the kernel
sees the same environment as pytest), with notebooks/ as the working directory, as JupyterLab would run them.
Together they take a few minutes on two CPU cores; `03_recommend` is most of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 240
_NEEDS = "executing notebooks needs nbclient, nbformat and ipykernel: pip install -e '.[dev]'"
_SKIP_DIRS = {"runs", "build", "node_modules", "__pycache__"}  # outputs and environments, not sources


def _stored_notebooks() -> list[Path]:
    """Every .ipynb under the repository, outside hidden folders (.venv, .git, checkpoints) and outputs."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not (d.startswith(".") or d in _SKIP_DIRS or d.endswith(".egg-info"))]
        found += [Path(folder) / f for f in files if f.endswith(".ipynb")]
    return sorted(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason=_NEEDS)
    nbclient = pytest.importorskip("nbclient", reason=_NEEDS)
    pytest.importorskip("ipykernel", reason=_NEEDS)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    client.execute()  # raises CellExecutionError, with the failing cell and its traceback, on the first error


def test_there_are_notebooks_to_run() -> None:
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", _stored_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.relative_to(ROOT)}: code cells {dirty} hold outputs or execution counts; clear them before "
        "committing (JupyterLab: Edit > Clear Outputs of All Cells, or `nbstripout FILE`)"
    )
