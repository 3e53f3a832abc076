from __future__ import annotations

import pytest
import torch

from adainf import runs
from adainf.config import RunConfig


def test_create_writes_config_and_code_version(tmp_path):
    run_dir = runs.create(RunConfig(out_dir=str(tmp_path), name="r"))
    assert runs.load_config(run_dir) == RunConfig(out_dir=str(tmp_path), name="r")
    assert (run_dir / "code_version.txt").read_text().startswith("adainf ")
    with pytest.raises(ValueError, match="exists and is not empty"):
        runs.create(RunConfig(out_dir=str(tmp_path), name="r"))


def test_checkpoint_round_trip_and_pruning(tmp_path):
    for step in (1, 2, 3):
        runs.save_checkpoint(tmp_path, step, {"w": torch.full((2,), float(step)), "meta": {"lr": 0.1}})
    assert [p.name for p in sorted((tmp_path / "checkpoints").iterdir())] == ["step_00000002.pt", "step_00000003.pt"]
    state = runs.load_checkpoint(runs.latest_checkpoint(tmp_path))
    assert state["step"] == 3 and torch.equal(state["w"], torch.full((2,), 3.0)) and state["meta"] == {"lr": 0.1}


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_unreadable_checkpoint_is_one_clear_error(tmp_path, damage):
    path = runs.save_checkpoint(tmp_path, 1, {"w": torch.zeros(1000)})
    if damage == "garbage":
        path.write_bytes(b"not a checkpoint")
    else:
        path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a readable adainf checkpoint") as e:
        runs.load_checkpoint(path)
    assert "weights_only=False" not in str(e.value)


def test_metrics_are_json_lines_with_nonfinite_as_null(tmp_path):
    runs.append_metrics(tmp_path, {"step": 1, "loss": float("nan")})
    runs.append_metrics(tmp_path, {"step": 2, "loss": 1.5})
    assert runs.read_metrics(tmp_path) == [{"step": 1, "loss": None}, {"step": 2, "loss": 1.5}]
    runs.truncate_metrics(tmp_path, 1)
    assert runs.read_metrics(tmp_path) == [{"step": 1, "loss": None}]
