"""Run directories: the only thing `adainf eval`, notebooks and resumption read.

    RUN_DIR/
      config.json         the whole resolved RunConfig
      metrics.jsonl       one JSON object per logged step (train rows and eval rows, each with "step")
      checkpoints/        step_00001000.pt ... (atomic writes; tensors and plain types only)
      code_version.txt    adainf version, git commit and whether the tree was dirty

Checkpoints hold only tensors, numbers, strings, lists and dicts, so `torch.load(..., weights_only=True)`
reads them: loading a checkpoint never runs code.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from adainf import __version__, config

CHECKPOINT_DIR = "checkpoints"
KEEP_CHECKPOINTS = 2  # older ones are deleted after a newer one is safely on disk


def create(cfg: config.RunConfig) -> Path:
    """Make a new run directory under cfg.out_dir and write config.json and code_version.txt."""
    name = cfg.name or f"{cfg.train.method}-{cfg.model.backbone}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(cfg.out_dir) / name
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"{run_dir}: run directory exists and is not empty; pick another name or --resume it")
    (run_dir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    config.save(cfg, run_dir / "config.json")
    _write_atomic(run_dir / "code_version.txt", code_version())
    return run_dir


def load_config(run_dir: str | Path) -> config.RunConfig:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ValueError(f"{run_dir}: not a run directory (no config.json)")
    return config.load(path)


def code_version() -> str:
    """adainf's version plus the git commit and dirty flag of the source tree, when it is a git checkout."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10, check=False)
        return out.stdout.strip() if out.returncode == 0 else ""

    try:
        commit = git("rev-parse", "HEAD") or "unknown"
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", False
    return f"adainf {__version__}\ncommit {commit}\ndirty {str(dirty).lower()}\n"


def append_metrics(run_dir: str | Path, row: dict[str, Any]) -> None:
    """Append one JSON object to metrics.jsonl (non-finite floats written as null, so the file stays JSON)."""
    clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
    with open(Path(run_dir) / "metrics.jsonl", "a") as f:
        f.write(json.dumps(clean) + "\n")


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truncate_metrics(run_dir: str | Path, last_step: int) -> None:
    """Drop rows logged after `last_step` (a resumed run recomputes them exactly)."""
    rows = [r for r in read_metrics(run_dir) if r.get("step", 0) <= last_step]
    _write_atomic(Path(run_dir) / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


def save_checkpoint(run_dir: str | Path, step: int, state: dict[str, Any]) -> Path:
    """Write checkpoints/step_<step>.pt atomically, then delete all but the newest KEEP_CHECKPOINTS."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:08d}.pt"
    tmp = folder / f".{path.name}.tmp"
    torch.save({"step": step, **state}, tmp)
    os.replace(tmp, path)
    for old in sorted(folder.glob("step_*.pt"))[:-KEEP_CHECKPOINTS]:
        old.unlink()
    return path


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = sorted((Path(run_dir) / CHECKPOINT_DIR).glob("step_*.pt"))
    return found[-1] if found else None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without unpickling code (weights_only=True)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as e:  # truncated or foreign
        # torch's own message suggests weights_only=False, which is exactly what must not be done here.
        raise ValueError(
            f"{path}: not a readable adainf checkpoint (truncated, corrupt or not written by adainf; "
            f"{type(e).__name__})"
        ) from None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
