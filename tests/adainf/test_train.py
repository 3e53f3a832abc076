"""The loop on tiny models: every method steps, resumption is exact, a NaN stops the run cleanly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from adainf import data, losses, methods, runs
from adainf.train import NonFiniteLoss, train

TINY = [
    "model.backbone=convnet", "model.width=4", "model.proj_hidden=32", "model.proj_out=16",
    "model.pred_hidden=32", "train.batch_size=16", "train.queue_size=64", "train.warmup_steps=2",
    "device=cpu", "precision=fp32", "eval_every=0",
]  # fmt: skip


def tiny(tmp_path, method="simclr", *extra: str):
    return methods.resolve_config(
        None, [*TINY, f"out_dir={tmp_path}", *extra], method=method
    )


def losses_of(run_dir):
    return [(r["step"], r["loss"]) for r in runs.read_metrics(run_dir) if r["kind"] == "train"]


@pytest.mark.parametrize("method", ["simclr", "mocov2", "byol", "barlow"])
def test_each_method_trains_and_writes_a_run(tmp_path, method):
    cfg = tiny(tmp_path, method, "train.steps=3", "log_every=1", "name=r")
    result = train(cfg, progress=False)
    run_dir = tmp_path / "r"
    assert result.run_dir == run_dir
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "metrics.jsonl", "checkpoints", "code_version.txt"}
    steps = losses_of(run_dir)
    assert [s for s, _ in steps] == [1, 2, 3] and all(np.isfinite(loss) for _, loss in steps)
    assert 0.0 <= result.eval["knn_top1"] <= 1.0 and 0.0 <= result.eval["online_linear_top1"] <= 1.0
    state = runs.load_checkpoint(runs.latest_checkpoint(run_dir))
    assert state["step"] == 3
    if method == "mocov2":
        assert int(state["model"]["queue_ptr"]) == (3 * 16) % 64
    if method in ("byol", "mocov2"):  # the target trails the online network: moved, but not equal to it
        model = state["model"]
        first = next(k for k in model if k.startswith("backbone.") and k.endswith("weight"))
        online, target = model[first], model["momentum_" + first]
        assert not torch.equal(online, target)


def test_resume_equals_uninterrupted_run(tmp_path):
    common = ["train.steps=8", "log_every=1", "ckpt_every=4"]
    train(tiny(tmp_path, "mocov2", *common, "name=full"), progress=False)
    train(tiny(tmp_path, "mocov2", *common, "name=split"), until=4, progress=False)
    assert [s for s, _ in losses_of(tmp_path / "split")] == [1, 2, 3, 4]
    train(None, resume=tmp_path / "split", progress=False)  # type: ignore[arg-type]
    full, split = losses_of(tmp_path / "full"), losses_of(tmp_path / "split")
    assert [s for s, _ in split] == list(range(1, 9))
    np.testing.assert_allclose([v for _, v in split], [v for _, v in full], rtol=1e-6)


def test_resume_drops_rows_logged_after_the_checkpoint(tmp_path):
    cfg = tiny(tmp_path, "simclr", "train.steps=6", "log_every=1", "ckpt_every=2", "name=r")
    train(cfg, until=4, progress=False)
    runs.append_metrics(tmp_path / "r", {"step": 5, "kind": "train", "loss": 123.0})  # from a killed process
    (tmp_path / "r" / "checkpoints" / "step_00000004.pt").unlink()  # its last checkpoint was step 2... then 4 lost
    train(None, resume=tmp_path / "r", progress=False)  # type: ignore[arg-type]
    steps = [s for s, _ in losses_of(tmp_path / "r")]
    assert steps == [1, 2, 3, 4, 5, 6] and 123.0 not in [v for _, v in losses_of(tmp_path / "r")]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = losses.nt_xent_loss

    def poisoned(z1, z2, *, temperature):
        calls["n"] += 1
        loss, parts = real(z1, z2, temperature=temperature)
        return (loss * float("nan"), parts) if calls["n"] > 3 else (loss, parts)

    monkeypatch.setattr(losses, "nt_xent_loss", poisoned)
    cfg = tiny(tmp_path, "simclr", "train.steps=8", "log_every=2", "ckpt_every=2", "name=r")
    with pytest.raises(NonFiniteLoss, match="by step 4"):
        train(cfg, progress=False)
    ckpt = runs.latest_checkpoint(tmp_path / "r")
    state = runs.load_checkpoint(ckpt)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_inflated_run_uses_generated_images_without_their_labels(tmp_path):
    gen = data.load_bundled("test")
    path = tmp_path / "gen.npz"
    data.save_npz(path, gen.images[:200], np.full(200, -1))
    cfg = tiny(tmp_path, "simclr", "train.steps=2", "log_every=1", "name=r", f"data.generated={path}",
               "data.real_weight=2.5")
    result = train(cfg, progress=False)
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["data"]["generated"] == str(path) and saved["data"]["real_weight"] == 2.5


def test_checkpoints_are_weights_only_and_pruned(tmp_path):
    cfg = tiny(tmp_path, "byol", "train.steps=6", "log_every=3", "ckpt_every=1", "name=r")
    train(cfg, progress=False)
    names = sorted(p.name for p in (tmp_path / "r" / "checkpoints").iterdir())
    assert names == ["step_00000005.pt", "step_00000006.pt"]  # two kept, no temporaries
    torch.load(tmp_path / "r" / "checkpoints" / names[-1], weights_only=True)
