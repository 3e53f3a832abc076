"""The generator: a tiny run learns, resumes exactly, samples a valid npz deterministically; quality glue; CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from adainf import data, generate, runs
from adainf.cli import main
from adainf.recommend import pixel_embedding

TINY = {"resolution": 16, "width": 16, "batch_size": 16, "lr": 2e-3, "warmup_steps": 5, "device": "cpu",
        "precision": "fp32", "log_every": 1}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny tensors: a second thread only adds synchronisation, which on a shared 2-core machine costs 10x.
    # Module scope, so that the shared run below is made with the same thread count (and hence the same
    # float summation order) as the runs the tests compare it with.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _blocky_images(n: int, seed: int, side: int = 16) -> np.ndarray:
    """(n, side, side, 3) uint8 images of 4x4 random colour blocks: spatially structured, unlike noise."""
    base = np.random.default_rng(seed).integers(0, 256, (n, side // 4, side // 4, 3)).astype(np.uint8)
    return np.repeat(np.repeat(base, 4, axis=1), 4, axis=2)


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    data.save_npz(path, _blocky_images(64, 0), np.arange(64) % 4)
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_npz):
    """A 50-step run (checkpoints every 10 steps), shared by the tests that only read it."""
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    cfg = generate.GenerateConfig(data=str(tiny_npz), steps=50, ckpt_every=10, **TINY)
    result = generate.train(cfg, run_dir, progress=False)
    return cfg, result


def test_fifty_step_run_loss_falls(tiny_run):
    _, result = tiny_run
    losses = [r["loss"] for r in runs.read_metrics(result.run_dir)]
    assert len(losses) == 50
    # At init the zero head predicts ε̂ = 0, so the loss starts at E[ε²] = 1; learning must pull it well below.
    assert np.mean(losses[:10]) > 0.85
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])


def test_run_dir_follows_trainer_conventions(tiny_run):
    cfg, result = tiny_run
    assert result.steps == 50 and result.parameters > 0
    assert generate.load_config(result.run_dir) == cfg
    assert (result.run_dir / "code_version.txt").read_text().startswith("adainf ")
    kept = sorted(p.name for p in (result.run_dir / runs.CHECKPOINT_DIR).glob("step_*.pt"))
    assert kept == ["step_00000040.pt", "step_00000050.pt"]  # five saved, newest two kept
    state = runs.load_checkpoint(result.run_dir / runs.CHECKPOINT_DIR / kept[-1])  # weights_only=True
    assert set(state) == {"step", "model", "ema", "optimizer"}


def test_resume_continues_exactly(tiny_run, tmp_path):
    cfg, full = tiny_run
    run_dir = tmp_path / "sliced"
    first = generate.train(cfg, run_dir, until=23, progress=False)
    assert first.steps == 23
    # A checkpoint and metric rows past the resume point must not survive into the continued run.
    runs.append_metrics(run_dir, {"step": 24, "kind": "train", "loss": 123.0})
    second = generate.train(None, run_dir, resume=True, progress=False)
    assert second.steps == 50
    a = runs.load_checkpoint(runs.latest_checkpoint(full.run_dir))
    b = runs.load_checkpoint(runs.latest_checkpoint(run_dir))
    for key in ("model", "ema"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs after resume"
    assert [r["loss"] for r in runs.read_metrics(run_dir)] == [r["loss"] for r in runs.read_metrics(full.run_dir)]


def test_sample_writes_adainf_npz(tiny_run, tmp_path):
    _, result = tiny_run
    out = tmp_path / "gen.npz"
    summary = generate.sample(result.run_dir, 7, out, batch=3, steps=4, progress=False)
    assert summary["n"] == 7 and summary["steps"] == 4
    with np.load(out) as f:
        assert sorted(f.files) == ["image", "label"]
        assert f["image"].shape == (7, 16, 16, 3) and f["image"].dtype == np.uint8
        assert f["label"].dtype == np.int64 and f["label"].tolist() == [-1] * 7
    assert len(data.load_npz(out)) == 7  # the loader the trainer uses accepts it


def test_sampling_is_deterministic_per_seed_and_independent_of_batch(tiny_run):
    _, result = tiny_run
    a, _ = generate.sample_images(result.run_dir, 6, batch=6, steps=4, seed=1, progress=False)
    b, _ = generate.sample_images(result.run_dir, 6, batch=6, steps=4, seed=1, progress=False)
    c, _ = generate.sample_images(result.run_dir, 6, batch=6, steps=4, seed=2, progress=False)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    # Noise is drawn per image from (seed, i): smaller batches and a shorter run give the same first images,
    # up to float summation order inside batched convolutions (at most one grey level after rounding).
    d, _ = generate.sample_images(result.run_dir, 4, batch=2, steps=4, seed=1, progress=False)
    assert np.abs(a[:4].astype(int) - d.astype(int)).max() <= 1


def test_class_conditional_run_stores_balanced_labels(tiny_npz, tmp_path):
    cfg = generate.GenerateConfig(data=str(tiny_npz), steps=2, class_conditional=True, **TINY)
    result = generate.train(cfg, tmp_path / "cond", progress=False)
    assert generate.load_config(result.run_dir).num_classes == 4  # resolved from the data, saved
    out = tmp_path / "cond.npz"
    generate.sample(result.run_dir, 10, out, batch=5, steps=2, progress=False)
    assert data.load_npz(out).labels.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]


def test_class_conditional_on_unlabeled_data_names_the_file(tmp_path):
    path = tmp_path / "unlabeled.npz"
    data.save_npz(path, _blocky_images(8, 0), np.full(8, -1))
    cfg = generate.GenerateConfig(data=str(path), steps=1, class_conditional=True, **TINY)
    with pytest.raises(ValueError, match="unlabeled.npz.*needs labels"):
        generate.train(cfg, tmp_path / "run", progress=False)


def test_run_dir_errors(tiny_npz, tiny_run, tmp_path):
    cfg, result = tiny_run
    with pytest.raises(ValueError, match="not empty"):
        generate.train(cfg, result.run_dir, progress=False)
    with pytest.raises(ValueError, match="no config.json"):
        generate.train(None, tmp_path / "missing", resume=True, progress=False)
    trainer_run = tmp_path / "trainer"
    trainer_run.mkdir()
    (trainer_run / "config.json").write_text(json.dumps({"train": {"steps": 3}}))
    with pytest.raises(ValueError, match="not a generator config"):
        generate.load_config(trainer_run)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    with pytest.raises(ValueError, match="no checkpoint"):
        generate.sample_images(empty, 2, progress=False)


def test_images_of_another_size_are_resized_to_the_resolution(tmp_path):
    path = tmp_path / "big.npz"
    data.save_npz(path, _blocky_images(4, 1, side=32), np.full(4, -1))
    ds = generate.load_images(generate.GenerateConfig(data=str(path), resolution=16))
    assert ds.images.shape == (4, 16, 16, 3) and ds.images.dtype == np.uint8
    # 4x4 blocks become 2x2 blocks: antialiased halving keeps each block's colour at its centre.
    big = data.load_npz(path).images
    assert np.abs(ds.images[:, 0, 0].astype(int) - big[:, 0, 0].astype(int)).max() <= 1


def test_pixel_gaussian_baseline_fits_per_pixel_moments():
    real = _blocky_images(400, 2)
    fake = generate.pixel_gaussian_baseline(real, 4000, rng=np.random.default_rng(0))
    assert fake.shape == (4000, 16, 16, 3) and fake.dtype == np.uint8
    # Uniform 0..255 pixels have std ~74, so the mean of 4000 draws is within ~1.2 grey levels (1σ) of the
    # fit; clipping to 0..255 shifts nothing on average for a distribution this centred.
    err = np.abs(fake.mean(axis=0) - real.mean(axis=0))
    assert np.median(err) < 2.0


def test_quality_floor_below_baseline_and_generated_like_floor():
    real = _blocky_images(2000, 3)
    same_distribution = _blocky_images(1000, 4)  # an oracle generator: fresh draws of the real distribution
    report = generate.quality(real, same_distribution, pixel_embedding(dim=32), rng=np.random.default_rng(0))
    assert report.n == 1000
    assert report.baseline.frechet > 5 * report.floor.frechet  # per-pixel noise lacks the block structure
    assert report.generated.frechet < 2 * report.floor.frechet
    # ci_low is a 95% lower bound on a fixed classifier's TPR - FPR <= TV: above 0 only for a real difference.
    assert report.baseline.tv_quadratic.ci_low > 0
    assert report.generated.tv_quadratic.ci_low <= 0 and report.floor.tv_quadratic.ci_low <= 0
    assert json.loads(json.dumps(report.to_dict()))["n_per_set"] == 1000


def test_grid_png(tmp_path):
    from PIL import Image

    path = generate.save_grid(_blocky_images(5, 0), tmp_path / "grid.png", columns=4, scale=2)
    with Image.open(path) as im:
        assert im.size == ((4 * 18 + 2) * 2, (2 * 18 + 2) * 2)


def test_cli_generate_train_then_sample(tiny_npz, tmp_path, capsys):
    run_dir = tmp_path / "cli-run"
    argv = ["generate", "train", str(run_dir), "--data", str(tiny_npz), "--steps", "3", "--resolution", "16",
            "--width", "16", "--device", "cpu", "--no-progress", "--json", "--set", "batch_size=8", "--set", "precision=fp32"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 3 and summary["run_dir"] == str(run_dir)
    assert generate.load_config(run_dir).batch_size == 8
    out = tmp_path / "cli.npz"
    argv = ["generate", "sample", str(run_dir), "--n", "3", "--out", str(out), "--steps", "2", "--device", "cpu",
            "--no-progress", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 3
    assert data.load_npz(out).images.shape == (3, 16, 16, 3)


def test_cli_generate_errors_are_one_line(tmp_path, capsys):
    assert main(["generate", "train", str(tmp_path / "none"), "--resume", "--no-progress"]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert main(["generate", "train", str(tmp_path / "x"), "--no-progress", "--set", "nosuchkey=1"]) == 2
    assert "unknown config key 'nosuchkey'" in capsys.readouterr().err
