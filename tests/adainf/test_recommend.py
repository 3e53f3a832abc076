"""The glue from images to the bound's terms, on small bundled samples."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
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
    # alpha_real reads only real-real edges, which the generated images and N leave untouched: it is the
    # plain real set's alpha (same subset, views and bandwidth for the same seed)
    plain = estimate_bound(augment_views="symmetric", n_real=100, views=2, k=3, pixel_dim=16)
    assert plain["alpha_real"] == pytest.approx(plain["alpha"], abs=1e-12)
    assert r["alpha_real"] == pytest.approx(plain["alpha"], abs=1e-12)


def test_bound_cli_prints_json(capsys):
    torch.manual_seed(0)
    assert main(["bound", "--augment", "symmetric_adainf", "--n-real", "60", "--views", "2", "--k", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["augment"] == "symmetric_adainf" and out["n_real"] == 60 and "total" in out


def _small_recommend(**kw):
    from adainf.recommend import recommend

    args = {"n_real": 160, "views": 2, "k": 3, "strengths": [0.25, 1.0], "dups": [1, 10], "pixel_dim": 16}
    return recommend(**{**args, **kw})


def test_recommend_ranks_a_grid_with_consistent_terms():
    r = _small_recommend(ratio=4.0, tv=0.2)
    cands = r["candidates"]
    assert len(cands) == 4 and r["recommended"]["dup"] == cands[0]["dup"]
    assert r["recommended"]["augment"] == cands[0]["augment"]
    assert [c["bound"] for c in cands] == sorted(c["bound"] for c in cands)
    for c in cands:
        n = c["dup"]
        assert c["beta"] == pytest.approx(n / (n + 4.0)) and c["tv"] == 0.2
        assert c["gap_term"] == pytest.approx((1 - c["beta"]) * 0.2)
        assert c["bound"] == pytest.approx(4 * c["alpha"] / c["lambda"] + 8 * c["alpha"] + c["gap_term"])
        assert c["n_eff"] == pytest.approx(160 * (n + 4) ** 2 / (n**2 + 4))
        curve = r["curves"][str(c["augment"]["strength"])]
        expected = np.interp(np.log(c["n_eff"]), np.log(curve["sizes"]), curve["lams"])
        assert c["lambda"] == pytest.approx(expected)
    # α and the undiluted λ are those of the measured real graph of each strength
    for s in (0.25, 1.0):
        (graph,) = [m for m in r["measured"] if m["strength"] == s]
        assert graph["n"] == 160 and graph["generated"] == 0
        assert all(c["alpha"] == graph["alpha"] for c in cands if c["augment"]["strength"] == s)
        assert r["curves"][str(s)]["lams"][0] == pytest.approx(graph["lam"], rel=1e-6)
        assert r["curves"][str(s)]["sizes"][0] == pytest.approx(160)
    assert r["candidates"][0]["augment"]["view1"]["crop_min_scale"] == pytest.approx(
        augment.at_strength(r["recommended"]["augment"]["strength"])[0].crop_min_scale)
    assert any("TV = 0.2 is as given" in a for a in r["assumptions"])


def test_recommend_without_inflation_has_one_dup_and_no_gap():
    r = _small_recommend(ratio=0.0)
    assert {c["dup"] for c in r["candidates"]} == {1.0}
    assert all(c["gap_term"] == 0.0 and c["beta"] == 1.0 for c in r["candidates"])


def test_recommend_with_a_generated_set_measures_tv_and_inflates_the_graph(tmp_path):
    test = data.load_bundled("test")
    path = tmp_path / "gen.npz"
    data.save_npz(path, test.images[:200], np.full(200, -1))
    r = _small_recommend(ratio=1.0, generated=str(path))
    assert r["n_generated"] == 160 and r["tv_estimate"]["source"].startswith("domain classifier")
    assert any(m["generated"] == 160 for m in r["measured"])
    assert any("pseudo-labels" in a for a in r["assumptions"])


def test_recommend_rejects_bad_arguments():
    with pytest.raises(ValueError, match="ratio"):
        _small_recommend(ratio=-1.0)
    with pytest.raises(ValueError, match="strength"):
        _small_recommend(ratio=1.0, strengths=[1.5])


def test_recommend_cli_writes_a_config_train_runs_and_a_plot(tmp_path, capsys):
    from adainf import config
    from adainf.train import train

    out, png = tmp_path / "new" / "rec.json", tmp_path / "new2" / "bound.png"  # folders are created
    assert main(["recommend", "--ratio", "4", "--n-real", "120", "--views", "2", "--k", "3", "--strengths",
                 "0.25", "1", "--dups", "1", "5", "--out", str(out), "--plot", str(png), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert set(result) >= {"ratio", "recommended", "candidates", "assumptions", "seconds"}
    assert "rank" in captured.err and "assumption" in captured.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cfg = config.load(out)
    rec = result["recommended"]
    assert cfg.data.real_weight == rec["dup"]
    assert cfg.augment.view1 == augment.at_strength(rec["augment"]["strength"])[0]
    tiny = config.apply_overrides(cfg, ["model.backbone=convnet", "model.width=8", "train.steps=2",
                                        "train.batch_size=16", "device=cpu", "eval_every=0", "ckpt_every=0",
                                        f"out_dir={tmp_path}", "precision=fp32", "model.proj_hidden=32",
                                        "model.proj_out=16"])
    assert train(tiny).run_dir.exists()


def test_reference_bandwidth_uses_all_images_up_to_the_cap_then_a_fixed_subset(monkeypatch):
    from adainf import recommend
    from bounds.graph import reference_bandwidth as median_rule

    x = data.load_bundled("train").to_tensor()[:80]
    embed = pixel_embedding(dim=16)
    pair = augment.resolve_views(0.5)
    full = median_rule(view_features(x, pair, 2, embed, seed=3), scale=0.25)
    assert recommend.reference_bandwidth(x, embed, views=2, scale=0.25, seed=3) == full
    monkeypatch.setattr(recommend, "REFERENCE_MAX_IMAGES", 50)
    keep = np.sort(np.random.default_rng(3).choice(80, 50, replace=False))
    sub = median_rule(view_features(x[torch.from_numpy(keep)], pair, 2, embed, seed=3), scale=0.25)
    h = recommend.reference_bandwidth(x, embed, views=2, scale=0.25, seed=3)
    assert h == sub and h != full


@pytest.mark.parametrize("backbone", ["convnet", "resnet18"])
def test_encoder_embedding_matches_the_eval_backbone(tmp_path, backbone):
    # Batch norm folded into the convs and the forward split into EMBED_BATCH chunks must not change features.
    from adainf import config, runs
    from adainf.methods import SSLModel
    from adainf.recommend import EMBED_BATCH, encoder_embedding

    cfg = config.RunConfig(model=config.ModelConfig(backbone=backbone, width=8, proj_hidden=32, proj_out=16),
                           out_dir=str(tmp_path), name="enc")
    torch.manual_seed(0)
    model = SSLModel(cfg)
    for m in model.modules():  # non-trivial running statistics and affine terms, so folding has work to do
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(-1.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    run_dir = runs.create(cfg)
    runs.save_checkpoint(run_dir, 1, {"model": model.state_dict()})
    x = torch.randn(EMBED_BATCH + 37, 3, 32, 32)
    with torch.no_grad():
        expected = model.backbone.eval()(x)  # (B, F)
    got = encoder_embedding(run_dir)(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
