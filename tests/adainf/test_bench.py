from __future__ import annotations

import json

import numpy as np

from adainf import data
from adainf.bench import bench_load
from adainf.cli import main


def test_bench_load_reports_the_set_it_loaded(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
    path = tmp_path / "set.npz"
    data.save_npz(path, images, np.arange(64) % 4)
    result = bench_load(str(path))
    assert result["n"] == 64
    assert result["array_bytes"] == images.nbytes + 64 * 8  # uint8 images + int64 labels
    assert result["seconds"] > 0
    assert result["memory_ratio"] == result["peak_rss_increase_bytes"] / result["array_bytes"]


def test_bench_augment_cli_prints_one_json_object(capsys):
    assert main(["bench", "augment", "--preset", "symmetric_adainf", "--batch", "8", "--iters", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preset"] == "symmetric_adainf" and out["batch"] == 8 and out["device"] == "cpu"
    assert out["views_per_s"] == 2 * out["images_per_s"] > 0


def test_bench_spectrum_matches_networkx_lambda2():
    from adainf.bench import bench_spectrum

    result = bench_spectrum(2000, compare_networkx=True)
    assert result["nodes"] == 2000 and result["components"] == 1
    assert result["eigenvalues"][0] == 0.0 and result["lambda2_abs_diff"] < 1e-8
