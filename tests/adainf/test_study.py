"""The evidence study's plumbing on a tiny grid of bundled images, and its summary on planted rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adainf import data, study


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    train = data.load_bundled("train")
    test = data.load_bundled("test")
    data.save_npz(root / "real.npz", train.images[:96], train.labels[:96])
    data.save_npz(root / "test.npz", test.images[:64], test.labels[:64])
    data.save_npz(root / "extra.npz", train.images[96:288], np.full(192, -1))  # R = 2, unlabeled
    return root


def _tiny(files, **kw):
    return study.StudyConfig(
        data=str(files / "real.npz"), test=str(files / "test.npz"), sources=(("generated", str(files / "extra.npz")),),
        strengths=(0.5, 1.0), inflations=(study.Inflation("none"), study.Inflation("generated-adainf", "generated", 10.0)),
        seeds=(0, 1), steps=2, batch=16, warmup_steps=1, width=4, proj_hidden=16, proj_out=8, bound_real=24,
        bound_views=2, bound_k=2, out_dir=str(files / "runs"), **kw)


def test_cells_start_with_the_reference_and_cover_the_grid(files):
    cfg = _tiny(files)
    grid = study.cells(cfg)
    assert grid[0] == study.reference_cell(cfg) == study.Cell(1.0, study.Inflation("none"), 0)
    assert len(grid) == len(set(grid)) == 2 * 2 * 2


def test_run_config_carries_the_cell(files):
    cfg = _tiny(files)
    cell = study.Cell(0.5, cfg.inflations[1], 1)
    rc = study.run_config(cfg, cell)
    assert rc.data.generated == str(files / "extra.npz") and rc.data.real_weight == 10.0
    assert rc.seed == 1 and rc.train.steps == 2 and rc.model.width == 4 and rc.name == cell.name
    from adainf import augment

    assert rc.augment.view1 == augment.at_strength(0.5)[0]


def test_validate_names_the_problem(files):
    with pytest.raises(ValueError, match="missing.npz: no such file"):
        study.validate(study.StudyConfig(data=str(files / "missing.npz"), test=str(files / "test.npz")))
    with pytest.raises(ValueError, match="no inflation source 'oracle'"):
        study.validate(study.StudyConfig(data=str(files / "real.npz"), test=str(files / "test.npz"),
                                         inflations=(study.Inflation("none"), study.Inflation("o", "oracle"))))
    with pytest.raises(ValueError, match="reference strength"):
        study.validate(_tiny(files, reference_strength=0.25))


def test_run_is_resumable_and_summarizes(files, tmp_path):
    cfg = _tiny(files)
    results = tmp_path / "r.json"
    state = study.run(cfg, results=results, progress=False)
    assert len(state["cells"]) == 8 and len(state["bounds"]) == 4
    on_disk = study.load_results(results)
    assert on_disk["cells"] == json.loads(json.dumps(state["cells"]))
    # the generated setting's bound sees R = 2 extra images per real one and N = 10
    b = next(b for b in state["bounds"] if b["inflation"] == "generated-adainf")
    assert b["n_generated"] == 48 and b["beta"] == pytest.approx(10 * 24 / (10 * 24 + 48))
    # a second run finds everything done and trains nothing
    again = study.run(cfg, results=results, progress=False)
    assert [r["cell"] for r in again["cells"]] == [r["cell"] for r in state["cells"]]
    s = study.summarize(again, n_boot=200)
    assert len(s["settings"]) == 4 and all(r["seeds"] == 2 for r in s["settings"])
    assert set(s["best_strength"]) == {"none", "generated-adainf"}


def _planted(acc_by_setting, bound_by_setting):
    cells, bounds = [], []
    for (s, inf), acc in acc_by_setting.items():
        for seed, jitter in enumerate((-0.01, 0.01)):
            cells.append({"cell": f"{s}-{inf}-{seed}", "strength": s, "inflation": inf, "dup": 1.0, "seed": seed,
                          "linear": acc + jitter, "knn": acc})
        total = bound_by_setting[(s, inf)]
        bounds.append({"strength": s, "inflation": inf, "total": total, "connectivity_term": total / 2,
                       "labeling_term": 1.0, "gap_term": 0.0, "alpha": 0.5, "lam": 1 / total, "beta": 0.5, "tv": 0.2, "alpha_real": 0.25})
    return {"cells": cells, "bounds": bounds}


def test_summary_on_planted_rows():
    settings = [(s, inf) for inf in ("none", "generated-vanilla", "generated-adainf") for s in (0.25, 0.5, 1.0)]
    acc = {k: 0.3 + 0.01 * i for i, k in enumerate(settings)}
    bound = {k: 10.0 - i for i, k in enumerate(settings)}  # exactly ordered: smaller bound, higher accuracy
    s = study.summarize(_planted(acc, bound), n_boot=500)
    assert s["spearman"]["linear"]["total"]["rho"] == pytest.approx(1.0)
    assert s["spearman"]["knn"]["lam"]["rho"] == pytest.approx(1.0)
    row = next(r for r in s["settings"] if r["strength"] == 0.5 and r["inflation"] == "none")
    assert row["linear_mean"] == pytest.approx(acc[(0.5, "none")])
    assert row["linear_sd"] == pytest.approx(np.std([-0.01, 0.01], ddof=1))
    assert s["best_strength"]["none"] == {"linear": 1.0, "knn": 1.0}
    assert s["ordering"]["generated-adainf"]["recipe_strength"] == 0.5
    assert s["ordering"]["generated-adainf"]["recipe_linear"] == pytest.approx(acc[(0.5, "generated-adainf")])
    assert s["ordering"]["none"]["recipe_strength"] == 1.0
    # inside one inflation setting the planted order still holds across strengths, and inside one strength
    assert s["within"]["inflation=none"]["linear"]["total"] == pytest.approx(1.0)
    assert s["within"]["strength=0.5"]["knn"]["total_real"] == pytest.approx(1.0)
    # the bound recomputed with the real data's alpha: 4 a / lam + 8 a + (1 - beta) tv
    assert row["total_real"] == pytest.approx(4 * 0.25 * bound[(0.5, "none")] + 8 * 0.25 + 0.5 * 0.2)
    assert s["spearman"]["linear"]["total_real"]["rho"] == pytest.approx(1.0)


def test_load_results_rejects_other_files(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="x.json: not a study results file"):
        study.load_results(bad)
    bad.write_text("{")
    with pytest.raises(ValueError, match="x.json: not a readable"):
        study.load_results(bad)


def test_summary_without_bounds_has_accuracy_but_no_correlation():
    settings = [(s, "none") for s in (0.5, 1.0)]
    state = _planted({k: 0.4 for k in settings}, {k: 1.0 for k in settings})
    state["bounds"] = []
    s = study.summarize(state, n_boot=10)
    assert s["spearman"] == {} and len(s["settings"]) == 2 and s["settings"][0]["total"] is None
