"""The evidence study: does the estimated bound order training configurations as their accuracies do?

A grid of augmentation strength × inflation setting × seed. Every cell is pre-trained with the same step
budget (inflated and plain runs cost the same, as in the paper) and evaluated offline on real data (kNN and a
linear probe on frozen features, `adainf.evaluate.evaluate_run`). Every (strength, inflation) setting also
gets the terms of the reconstructed bound from `adainf.recommend.estimate_bound`, the function behind
`adainf bound`, in one fixed feature space: the encoder of the reference cell (standard augmentation, no
inflation, first seed), i.e. the encoder a practitioner has *before* deciding how to inflate. `summarize`
then asks the issue's questions: Spearman's ρ between −bound (and each term) and accuracy with a bootstrap
interval, the best strength per inflation setting (the paper's Fig. 3), and whether AdaInf ≥ vanilla ≥ none.

Inflation settings name their source: "oracle" draws extra *real* images (a perfect generator, TV = 0),
"generated" a generator's samples. The paper's AdaInf is N = 10 at the weak augmentation (strength 0.5 here);
the grid crosses N with every strength, so the paper's recipes are cells of it.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Inflation:
    """One inflation setting: where the extra images come from and the real weight N."""

    name: str  # label in tables, e.g. "generated-adainf"
    source: str | None = None  # None (no inflation), "oracle" or "generated": a key of StudyConfig.sources
    dup: float = 1.0  # N: a real image is drawn N times as often as an extra one


DEFAULT_INFLATIONS = (
    Inflation("none"),
    Inflation("oracle-vanilla", "oracle", 1.0),
    Inflation("generated-vanilla", "generated", 1.0),
    Inflation("generated-adainf", "generated", 10.0),
)


@dataclass(frozen=True)
class StudyConfig:
    """The grid, the training budget and the bound estimator's sample sizes.

    Sizes are chosen for 2 CPU cores (RESULTS.md gives the wall time): a width-16 ConvNet, 400 SimCLR steps of
    256 images (20 epochs of the 5k set), offline probes on the 5k test set.
    """

    data: str  # real training images (npz), e.g. cifar10-5k-train.npz
    test: str  # labelled test images (npz)
    sources: tuple[tuple[str, str], ...] = ()  # ("oracle" | "generated", npz of extra images) pairs
    strengths: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    inflations: tuple[Inflation, ...] = DEFAULT_INFLATIONS
    seeds: tuple[int, ...] = (0, 1)
    method: str = "simclr"
    steps: int = 400
    batch: int = 256
    warmup_steps: int = 40
    backbone: str = "convnet"
    width: int = 16
    proj_hidden: int = 512
    proj_out: int = 128
    reference_strength: float = 1.0  # the reference cell: this strength, no inflation, seeds[0]
    bound_real: int = 1000  # real images in each bound estimate; extra images join at the training ratio
    bound_views: int = 4
    bound_k: int = 10
    out_dir: str = "runs/e06"
    device: str = "cpu"

    def source(self, name: str) -> str:
        """The npz of the extra images called `name`."""
        found = dict(self.sources)
        if name not in found:
            raise ValueError(f"no inflation source {name!r}; given: {sorted(found)}")
        return found[name]


@dataclass(frozen=True)
class Cell:
    """One trained configuration of the grid."""

    strength: float
    inflation: Inflation
    seed: int

    @property
    def name(self) -> str:
        return f"s{self.strength:g}-{self.inflation.name}-seed{self.seed}"


def cells(study: StudyConfig) -> list[Cell]:
    """Every cell, the reference cell first (the bound's feature space needs it before any bound)."""
    ref = reference_cell(study)
    grid = [Cell(float(s), inf, seed) for seed in study.seeds for inf in study.inflations for s in study.strengths]
    return [ref] + [c for c in grid if c != ref]


def reference_cell(study: StudyConfig) -> Cell:
    none = [inf for inf in study.inflations if inf.source is None]
    if not none:
        raise ValueError("the study needs a no-inflation setting: the reference encoder is trained without one")
    return Cell(float(study.reference_strength), none[0], study.seeds[0])


def validate(study: StudyConfig) -> None:
    """Raise ValueError naming the problem before any training starts."""
    for path in [study.data, study.test, *(p for _, p in study.sources)]:
        if not Path(path).exists():
            raise ValueError(f"{path}: no such file")
    for inf in study.inflations:
        if inf.source is not None:
            study.source(inf.source)
        if not (math.isfinite(inf.dup) and inf.dup > 0):
            raise ValueError(f"inflation {inf.name!r}: N must be positive, got {inf.dup}")
    if study.reference_strength not in study.strengths:
        raise ValueError(f"reference strength {study.reference_strength} is not among {study.strengths}")
    if not study.seeds:
        raise ValueError("need at least one seed")


def run_config(study: StudyConfig, cell: Cell) -> Any:
    """The `RunConfig` that trains `cell`: the method's recipe with the study's budget and the cell's data."""
    from adainf import augment, methods
    from adainf.config import DataConfig, ModelConfig, ViewsConfig

    cfg = methods.preset(study.method)
    view1, view2 = augment.at_strength(cell.strength)
    inf = cell.inflation
    return replace(
        cfg,
        data=DataConfig(train=study.data, test=study.test,
                        generated=study.source(inf.source) if inf.source else None, real_weight=inf.dup),
        augment=ViewsConfig(view1=view1, view2=view2),
        model=replace(ModelConfig(), backbone=study.backbone, width=study.width, proj_hidden=study.proj_hidden,
                      proj_out=study.proj_out),
        train=replace(cfg.train, steps=study.steps, batch_size=study.batch, warmup_steps=study.warmup_steps),
        seed=cell.seed, device=study.device, out_dir=study.out_dir, name=cell.name,
        log_every=50, eval_every=0, ckpt_every=0,
    )


def train_cell(study: StudyConfig, cell: Cell, *, progress: bool = False) -> dict[str, Any]:
    """Pre-train one cell and probe it offline; a finished run directory is evaluated, not retrained."""
    from adainf import runs
    from adainf.evaluate import evaluate_run
    from adainf.train import train

    run_dir = Path(study.out_dir) / cell.name
    t0 = time.perf_counter()
    last = runs.latest_checkpoint(run_dir) if run_dir.exists() else None
    if last is None or runs.load_checkpoint(last)["step"] < study.steps:
        if run_dir.exists():  # an interrupted cell: start it again rather than mix two partial runs
            import shutil

            shutil.rmtree(run_dir)
        train(run_config(study, cell), progress=progress)
    train_s = time.perf_counter() - t0
    ev = evaluate_run(run_dir, device=study.device)
    return {"cell": cell.name, "strength": cell.strength, "inflation": cell.inflation.name, "dup": cell.inflation.dup,
            "source": cell.inflation.source, "seed": cell.seed, "steps": study.steps, "knn": ev["knn_top1"],
            "linear": ev["offline_linear_top1"], "train_seconds": train_s, "eval_seconds": ev["seconds"]}


def bound_setting(study: StudyConfig, strength: float, inflation: Inflation, *, seed: int = 0) -> dict[str, Any]:
    """The bound's terms for one (strength, inflation) setting (`estimate_bound`, as `adainf bound` does).

    Extra images join the graph at the training set's ratio R = |extra| / |real| (as many as exist), with
    real weight N, so β and λ_{k+1} describe the distribution the cell trains on.
    """
    from adainf import data
    from adainf.recommend import estimate_bound

    n_gen = 0
    generated = None
    if inflation.source is not None:
        generated = study.source(inflation.source)
        ratio = len(data.load(generated)) / len(data.load(study.data))
        n_gen = max(1, round(ratio * study.bound_real))
    encoder = Path(study.out_dir) / reference_cell(study).name
    r = estimate_bound(augment_views=float(strength), real_weight=inflation.dup, data_name=study.data,
                       generated=generated, encoder=str(encoder), n_real=study.bound_real,
                       n_generated=n_gen if generated else None, views=study.bound_views, k=study.bound_k,
                       seed=seed, device=study.device)
    return {"strength": float(strength), "inflation": inflation.name, **r}


def command(cell: Cell | None = None) -> str:
    """The shell command that reproduces the study (or one cell of it)."""
    base = ".venv/bin/python experiments/e06_evidence.py"
    if cell is None:
        return base
    return f"{base} --only {cell.strength:g}:{cell.inflation.name}:{cell.seed}"


def run(study: StudyConfig, *, only: Iterable[Cell] | None = None, results: str | Path,
        progress: bool = True) -> dict[str, Any]:
    """Train/evaluate every cell (or `only` those) and estimate every setting's bound; resumable.

    `results` is a JSON file of finished rows, rewritten atomically after each cell, so an interrupted study
    continues where it stopped and a cell re-run replaces its row.
    """
    from tqdm.auto import tqdm

    validate(study)
    path = Path(results)
    state = load_results(path) if path.exists() else {"cells": [], "bounds": []}
    state["study"] = _study_dict(study)
    state["command"] = command()
    done = {r["cell"] for r in state["cells"]}
    todo = list(only) if only is not None else [c for c in cells(study) if c.name not in done]
    ref = reference_cell(study)
    if not (Path(study.out_dir) / ref.name).exists() and ref not in todo:
        todo.insert(0, ref)
    bar = tqdm(total=len(todo), disable=not progress, desc="cells", unit="cell")
    for cell in todo:
        row = train_cell(study, cell)
        state["cells"] = [r for r in state["cells"] if r["cell"] != cell.name] + [row]
        write_json(path, state)
        bar.set_postfix(knn=f"{row['knn']:.3f}", linear=f"{row['linear']:.3f}")
        bar.update()
        if cell == ref and only is None:
            _bounds(study, state, path, progress=progress)
    bar.close()
    if only is None:
        _bounds(study, state, path, progress=progress)
    return state


def _bounds(study: StudyConfig, state: dict[str, Any], path: Path, *, progress: bool) -> None:
    from tqdm.auto import tqdm

    have = {(b["strength"], b["inflation"]) for b in state["bounds"]}
    want = [(float(s), inf) for inf in study.inflations for s in study.strengths if (float(s), inf.name) not in have]
    for s, inf in tqdm(want, disable=not progress, desc="bounds", unit="setting"):
        state["bounds"].append(bound_setting(study, s, inf))
        write_json(path, state)


# --------------------------------------------------------------------------------------------------
# Summary


# Predictors correlated with accuracy. "_real" variants use `alpha_real` (the real data's α on the same graph,
# see `adainf.recommend`) in place of the pseudo-label α.
TERMS = ("total", "connectivity_term", "labeling_term", "gap_term", "alpha", "lam", "total_real", "alpha_real")


def summarize(state: dict[str, Any], *, n_boot: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """The issue's answers from a study's rows: accuracy table, correlations, Fig. 3 and the ordering.

    Correlations are across settings (strength × inflation), with accuracy the mean over seeds. For the bound
    and each penalty term, the predictor is its negative (smaller bound = better predicted); λ enters as is.
    `within` repeats ρ inside one axis: across strengths at each inflation setting (does the bound pick the
    strength?) and across inflation settings at each strength (does it pick the inflation?).
    """
    from bounds.correlation import bootstrap_spearman, spearman

    table = settings_table(state)
    rows = [r for r in table if r.get("total") is not None]
    corr: dict[str, dict[str, Any]] = {}
    for metric in ("linear", "knn"):
        if len(rows) < 2:  # e.g. `--only` re-runs before any bound: no correlation to report
            break
        acc = np.array([r[f"{metric}_mean"] for r in rows])
        corr[metric] = {}
        for term in TERMS:
            if any(r[term] is None for r in rows):
                continue
            sign = 1.0 if term == "lam" else -1.0
            pred = sign * np.array([r[term] for r in rows], dtype=float)
            c = bootstrap_spearman(pred, acc, n_boot=n_boot, seed=seed)
            corr[metric][term] = asdict(c)
    inflations = list(dict.fromkeys(r["inflation"] for r in table))
    # The same question inside one axis: does the bound pick the strength (fixed inflation), and the inflation
    # setting (fixed strength)? Few points each, so these are plain ρ without an interval.
    within: dict[str, dict[str, dict[str, float]]] = {}
    for axis, other in (("inflation", "strength"), ("strength", "inflation")):
        for key in dict.fromkeys(r[axis] for r in rows):
            group = [r for r in rows if r[axis] == key]
            if len({r[other] for r in group}) < 2:
                continue
            for metric in ("linear", "knn"):
                acc = np.array([r[f"{metric}_mean"] for r in group])
                for term in ("total", "total_real"):
                    if any(r[term] is None for r in group):
                        continue
                    rho = spearman(-np.array([r[term] for r in group], dtype=float), acc)
                    within.setdefault(f"{axis}={key}", {}).setdefault(metric, {})[term] = rho
    best = {}
    for inf in inflations:
        mine = [r for r in table if r["inflation"] == inf]
        best[inf] = {m: max(mine, key=lambda r, m=m: r[f"{m}_mean"])["strength"] for m in ("linear", "knn")}
    return {"settings": table, "spearman": corr, "within": within, "best_strength": best,
            "ordering": _ordering(table)}


def settings_table(state: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (strength, inflation): accuracy mean ± sd over seeds and the bound's terms."""
    from bounds.bound import generalization_bound

    groups: dict[tuple[float, str], list[dict[str, Any]]] = {}
    for r in state["cells"]:
        groups.setdefault((r["strength"], r["inflation"]), []).append(r)
    bounds = {(b["strength"], b["inflation"]): b for b in state["bounds"]}
    out = []
    for (s, inf), rs in groups.items():
        row: dict[str, Any] = {"strength": s, "inflation": inf, "dup": rs[0]["dup"], "seeds": len(rs)}
        for m in ("linear", "knn"):
            vals = [r[m] for r in rs]
            row[f"{m}_mean"] = statistics.fmean(vals)
            row[f"{m}_sd"] = statistics.stdev(vals) if len(vals) > 1 else float("nan")
        b = dict(bounds[(s, inf)]) if (s, inf) in bounds else None
        if b is not None and b.get("alpha_real") is not None:
            real = generalization_bound(alpha=b["alpha_real"], lam=b["lam"], beta=b["beta"], tv=b["tv"])
            b["total_real"] = real.total
        for term in TERMS:
            row[term] = b.get(term) if b else None
        row["beta"] = b["beta"] if b else None
        row["tv"] = b["tv"] if b else None
        out.append(row)
    order = {name: i for i, name in enumerate(dict.fromkeys(r["inflation"] for r in state["cells"]))}
    return sorted(out, key=lambda r: (order[r["inflation"]], r["strength"]))


def _ordering(table: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Linear accuracy of none / vanilla / AdaInf, at the paper's recipes and at each setting's best strength."""
    by = {(r["inflation"], r["strength"]): r for r in table}
    out: dict[str, Any] = {}
    recipes = {"none": 1.0, "vanilla": 1.0, "adainf": 0.5}  # the paper: base augmentation, except AdaInf's weak one
    for inf in dict.fromkeys(r["inflation"] for r in table):
        kind = next((k for k in recipes if inf == k or inf.endswith("-" + k)), None)
        mine = [r for r in table if r["inflation"] == inf]
        top = max(mine, key=lambda r: r["linear_mean"])
        entry = {"best_strength": top["strength"], "best_linear": top["linear_mean"]}
        if kind is not None and (inf, recipes[kind]) in by:
            entry["recipe_strength"] = recipes[kind]
            entry["recipe_linear"] = by[(inf, recipes[kind])]["linear_mean"]
        out[inf] = entry
    return out


# --------------------------------------------------------------------------------------------------
# Files and figures


def load_results(path: str | Path) -> dict[str, Any]:
    """A study's results JSON; ValueError naming the file when it is not one."""
    p = Path(path)
    try:
        state = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{p}: not a readable study results file ({e})") from None
    if not isinstance(state, dict) or not {"cells", "bounds"} <= set(state):
        raise ValueError(f"{p}: not a study results file (needs 'cells' and 'bounds')")
    return state


def _study_dict(study: StudyConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(study)))


def write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as JSON atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=float) + "\n")
    os.replace(tmp, path)


def plot(summary: dict[str, Any], path: str | Path | None = None, *, metric: str = "linear") -> Any:
    """Seaborn figure: bound vs accuracy (one point per setting, error bars over seeds) and accuracy and bound
    heatmaps over strength × inflation. Returns the figure; saves it atomically when `path` is given."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = [r for r in summary["settings"] if r["total"] is not None]
    infs = list(dict.fromkeys(r["inflation"] for r in summary["settings"]))
    strengths = sorted({r["strength"] for r in summary["settings"]})
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    palette = dict(zip(infs, sns.color_palette("colorblind", len(infs)), strict=True))
    for inf in infs:
        mine = [r for r in rows if r["inflation"] == inf]
        axes[0].errorbar([r["total"] for r in mine], [100 * r[f"{metric}_mean"] for r in mine],
                         yerr=[100 * np.nan_to_num(r[f"{metric}_sd"]) for r in mine], fmt="o", capsize=3,
                         color=palette[inf], label=inf)
    c = summary["spearman"][metric]["total"]
    axes[0].set(xlabel="estimated bound (reconstructed Thm 4.1)", ylabel=f"{metric} probe accuracy (%)",
                title=f"Spearman(−bound, acc) = {c['rho']:.2f} [{c['low']:.2f}, {c['high']:.2f}]")
    axes[0].legend(fontsize=8)
    for ax, key, label, cmap in ((axes[1], f"{metric}_mean", f"{metric} accuracy (%)", "viridis"),
                                 (axes[2], "total", "bound", "viridis_r")):
        grid = np.full((len(infs), len(strengths)), np.nan)
        for r in summary["settings"]:
            if r[key] is not None:
                grid[infs.index(r["inflation"]), strengths.index(r["strength"])] = (
                    100 * r[key] if key != "total" else r[key])
        sns.heatmap(grid, annot=True, fmt=".1f" if key != "total" else ".2f", cmap=cmap, ax=ax,
                    xticklabels=[f"{s:g}" for s in strengths], yticklabels=infs, cbar_kws={"label": label})
        ax.set(xlabel="augmentation strength", title=label)
    fig.tight_layout()
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.stem}.tmp{p.suffix}")
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, p)
    return fig
