"""The glue from images to the bound's terms, on small bundled samples."""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from adainf import augment, data
from adainf.cli import main
from adainf.recommend import estimate_bound, pixel_embedding, view_features


def test_view_features_shape_norm_and_determinism():
    x = data.load_bundled("train").to_tensor()[:40]
    embed = pixel_embedding(dim=16)
    f = view_features(x, augment.PRESETS["symmetric"], 3, embed, seed=1)
    assert f.shape == (40, 3, 16)
    np.testing.assert_allclose(np.linalg.norm(f, axis=2), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(f, view_features(x, augment.PRESETS["symmetric"], 3, embed, seed=1))
    # strength 0 is the identity: all views of a source coincide
    f0 = view_features(x, augment.at_strength(0.0), 2, embed)
    np.testing.assert_allclose(f0[:, 0], f0[:, 1], atol=1e-6)


def test_estimate_bound_terms_are_consistent(tmp_path):
    r = estimate_bound(augment_views=0.5, n_real=120, views=2, k=3, pixel_dim=16)
    assert r["beta"] == 1.0 and r["gap_term"] == 0.0 and r["n_real"] == 120
    assert 0.0 <= r["alpha"] <= 1.0 and 0.0 <= r["lam"] <= 2.0
    expected = 4 * r["alpha"] / r["lam"] + 8 * r["alpha"] if r["lam"] > 0 else math.inf
    assert r["total"] == expected
    assert any("random projection" in a for a in r["assumptions"])


def test_oracle_inflation_measures_beta_and_a_gap(tmp_path):
    test = data.load_bundled("test")
    path = tmp_path / "gen.npz"
    data.save_npz(path, test.images[:100], np.full(100, -1))
    r = estimate_bound(augment_views="symmetric", real_weight=10, generated=str(path), n_real=100, views=2,
                       k=3, pixel_dim=16)
    assert r["n_generated"] == 100 and r["beta"] == 1000 / 1100
    assert r["tv_estimate"]["source"].startswith("domain classifier")
    assert any("pseudo-labels" in a for a in r["assumptions"])


def test_bound_cli_prints_json(capsys):
    torch.manual_seed(0)
    assert main(["bound", "--augment", "symmetric_adainf", "--n-real", "60", "--views", "2", "--k", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["augment"] == "symmetric_adainf" and out["n_real"] == 60 and "total" in out
