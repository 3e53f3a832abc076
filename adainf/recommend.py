"""Glue between the wings: images -> augmented views -> features -> `bounds` -> the bound's terms.

`estimate_bound` evaluates, for one setting (augmentation pair, real weight N, optional generated set), every
term of the reconstructed AdaInf bound (`bounds.bound.generalization_bound`):

1. Sources: up to `n_real` real images (and `n_generated` generated ones), each augmented `views` times
   with the setting's pipeline (view v uses the pair's view v mod 2), every draw seeded by (seed, v).
2. Features: a frozen encoder from a run directory (`encoder=RUN_DIR`, the backbone `adainf train` wrote),
   or, when none is given, a fixed random projection of the normalised pixels to `pixel_dim` dimensions
   (Johnson-Lindenstrauss: distances are kept up to a small factor). Pixel space carries little class
   structure, so α and λ there are weak signals; the result says which space was used. Features are
   L2-normalised (cosine geometry, as in the kNN probe).
3. Graph: `bounds.graph.build_graph` on all sources with weights N (real) and 1 (generated), kernel
   bandwidth h = `bandwidth_scale` x the median distance between two views of the same real source under a
   REFERENCE pipeline (strength 0.5 = `symmetric_adainf` by default), so h is the same for every setting
   compared and does not move with n or with the strength being evaluated (see `bounds.graph`).
4. Terms: λ_{k+1} and the pairwise α (cross-label edge mass) from `bounds.graph.graph_terms`, with real
   labels and, for unlabeled generated sources, kNN pseudo-labels from the real ones
   (`bounds.labeling.pseudo_labels`); β exactly; TV from a domain classifier on unaugmented features
   (`bounds.gap.tv_lower_bound`) when a generated set is given, else `tv` (an assumption, listed as such).
   Pseudo-labels agree with their feature-space neighbours by construction, so they pull α down as the
   generated share grows, whatever the images' quality. The result therefore also reports `alpha_real`: the
   cross-label share of the mass between distinct *real* sources of the same inflated graph (generated
   sources unlabelled, `bounds.labeling.graph_labeling_error`). Real-real edges do not depend on the
   generated images or on N, so `alpha_real` is the real data's α whatever the inflation — the paper's
   reading, in which α is an expectation inflation does not change and inflation acts through λ_{k+1} and
   the gap term only — free of the pseudo-label bias but blind to labels the generated images would carry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.fx.experimental.optimization import fuse

from adainf import augment, data
from adainf.config import AugmentConfig
from adainf.inflation import step_generator
from bounds import gap

_VIEW_STREAM = 2  # seeds view draws apart from the trainer's index (0) and augmentation (1) streams

Embed = Callable[[Tensor], Tensor]  # float views (B, 3, S, S), normalised -> features (B, d)

# Kernel bandwidth as a multiple of the median same-source view distance at the reference strength (see
# `reference_bandwidth` and RESULTS.md, "Augmentation graph on CIFAR").
DEFAULT_SCALE = 0.25
# The reference bandwidth's median is taken over at most this many images (see `reference_bandwidth`).
REFERENCE_MAX_IMAGES = 2000
# Views per encoder forward pass: 128 ran 1.6x the views/s of 512 on a 2-core CPU (the activations stay in
# cache); a GPU is not starved at this size for the small backbones embedded here.
EMBED_BATCH = 128


def pixel_embedding(*, dim: int = 128, seed: int = 0) -> Embed:
    """A fixed Gaussian random projection of flattened pixels to `dim` dimensions (the no-encoder fallback)."""
    cache: dict[int, Tensor] = {}

    def embed(x: Tensor) -> Tensor:
        d_in = x[0].numel()
        if d_in not in cache:
            g = torch.Generator().manual_seed(seed)
            cache[d_in] = torch.randn(d_in, dim, generator=g) / dim**0.5  # (D_in, dim)
        return x.flatten(1).float().cpu() @ cache[d_in]  # (B, dim)

    return embed


def encoder_embedding(run_dir: str | Path, *, device: str | torch.device = "cpu") -> Embed:
    """The frozen backbone of a training run's last checkpoint, in eval mode."""
    from adainf import runs
    from adainf.methods import SSLModel

    cfg = runs.load_config(run_dir)
    ckpt = runs.latest_checkpoint(run_dir)
    if ckpt is None:
        raise ValueError(f"{run_dir}: no checkpoint; train first or omit --encoder")
    model = SSLModel(cfg)
    model.load_state_dict(runs.load_checkpoint(ckpt)["model"])
    # channels_last: 1.65x the views/s of the default layout on this CPU, identical features (fp32); bf16
    # autocast was 3x slower for inference here, and would round the small distances the kernel resolves.
    # Folding each conv's batch norm into its weights (exact in eval mode, features agree to ~2e-6) adds 5-10 %.
    backbone = fuse(model.backbone.eval()).to(device).to(memory_format=torch.channels_last)

    @torch.no_grad()
    def embed(x: Tensor) -> Tensor:
        x = x.to(device).contiguous(memory_format=torch.channels_last)  # (B, 3, S, S)
        return torch.cat([backbone(x[i : i + EMBED_BATCH]).float().cpu()
                          for i in range(0, len(x), EMBED_BATCH)])  # (B, F)

    return embed


def view_features(
    images: Tensor, pair: tuple[AugmentConfig, AugmentConfig], views: int, embed: Embed, *, seed: int = 0,
    batch: int = 512,
) -> np.ndarray:
    """(n, views, d) L2-normalised features of `views` augmented views of each uint8 image (n, 3, H, W).

    `batch` images are augmented per call; it is part of the random stream, so changing it changes the views.
    """
    out = []
    for v in range(views):
        g = step_generator(seed, v, _VIEW_STREAM)
        chunks = [embed(augment.augment_batch(images[i : i + batch], pair[v % 2], g))
                  for i in range(0, len(images), batch)]
        out.append(torch.nn.functional.normalize(torch.cat(chunks), dim=1))  # (n, d)
    return torch.stack(out, dim=1).numpy().astype(np.float64)  # (n, views, d)


def clean_features(images: Tensor, embed: Embed, cfg: AugmentConfig, *, batch: int = 512) -> np.ndarray:
    """(n, d) L2-normalised features of the unaugmented images (normalised like the views)."""
    feats = []
    for i in range(0, len(images), batch):
        x = augment.normalize(images[i : i + batch].float() / 255.0, cfg.mean, cfg.std)
        feats.append(torch.nn.functional.normalize(embed(x), dim=1))
    return torch.cat(feats).numpy().astype(np.float64)


def _random_subset(ds: data.ImageSet, n: int, rng: np.random.Generator) -> data.ImageSet:
    if n >= len(ds):
        return ds
    return ds.subset(np.sort(rng.choice(len(ds), size=n, replace=False)))


def feature_space(
    encoder: str | Path | None, *, pixel_dim: int = 128, seed: int = 0, device: str = "cpu"
) -> tuple[Embed, str, list[str]]:
    """The feature map, its name, and the assumption it implies (the pixel fallback is a weak stand-in)."""
    if encoder is not None:
        return encoder_embedding(encoder, device=device), f"encoder:{encoder}", []
    return (pixel_embedding(dim=pixel_dim, seed=seed), f"pixels:random-projection-{pixel_dim}",
            ["no encoder given: features are a random projection of pixels (weak class structure)"])


def reference_bandwidth(
    images: Tensor, embed: Embed, *, reference: str | float = 0.5, views: int = 4, scale: float = DEFAULT_SCALE,
    seed: int = 0,
) -> float:
    """h = `scale` x the median distance between two views of one source under the REFERENCE augmentation.

    Computed once on the real images and then held fixed for every setting compared (strengths, inflation
    sizes, real weights), as `bounds.graph` requires for a consistent estimate. Beyond
    `REFERENCE_MAX_IMAGES` images it uses a fixed random subset of that many: a median of 12,000 view-pair
    distances is already stable to well under 1 %, and embedding the reference views was a third of the time
    of `adainf bound` on 5,000 images.
    """
    from bounds import graph

    if len(images) > REFERENCE_MAX_IMAGES:
        keep = np.sort(np.random.default_rng(seed).choice(len(images), REFERENCE_MAX_IMAGES, replace=False))
        images = images[torch.from_numpy(keep)]
    ref = view_features(images, augment.resolve_views(reference), views, embed, seed=seed)
    return graph.reference_bandwidth(ref, scale=scale)


def graph_terms(
    features: np.ndarray, labels: np.ndarray, *, bandwidth: float, k: int, weights: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """λ_{k+1}, pairwise α and the graph diagnostics of one (possibly inflated) set of view features."""
    return _measure_graph(features, labels, bandwidth=bandwidth, k=k, weights=weights, seed=seed)[0]


def _measure_graph(
    features: np.ndarray, labels: np.ndarray, *, bandwidth: float, k: int, weights: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[dict[str, Any], Any]:
    from bounds import graph

    g = graph.build_graph(features, bandwidth=bandwidth, weights=weights, rng=np.random.default_rng(seed))
    t = graph.graph_terms(g, k=k, labels=labels)
    terms = {"lam": t.lam, "alpha": float(t.alpha_pairwise if t.alpha_pairwise is not None else 0.0),
             "n_components": t.n_components, "self_transition_mass": t.self_transition_mass,
             "max_dropped_fraction": g.max_dropped_fraction, "edges": int(g.adjacency.nnz)}
    return terms, g.adjacency


def inflation_grid(
    real: data.ImageSet, extra: data.ImageSet | None, embed: Embed, *, strengths: Sequence[str | float],
    extra_sizes: Sequence[int] = (0,), seeds: Sequence[int] = (0,), views: int = 4, k: int = 10,
    reference: str | float = 0.5, bandwidth_scale: float = DEFAULT_SCALE, progress: bool = False,
) -> list[dict[str, Any]]:
    """λ_{k+1} and α over augmentation strength x inflation size x seed, with one bandwidth per seed.

    `extra` is the inflation source, every image weighted like a real one (N = 1); sizes are nested prefixes
    of one fixed random order of it (files are often sorted by class), so a larger inflation contains the
    smaller ones. Its labels are used for α where present (an oracle set of real images has them). Each seed
    redraws the views (and so the reference bandwidth).
    """
    from tqdm.auto import tqdm

    real_x = real.to_tensor()
    n_extra_max = max(extra_sizes)
    if n_extra_max and (extra is None or n_extra_max > len(extra)):
        raise ValueError(f"inflation size {n_extra_max} needs an extra set with at least that many images")
    if n_extra_max:
        extra = extra.subset(np.random.default_rng(0).permutation(len(extra))[:n_extra_max])
    extra_x = extra.to_tensor() if n_extra_max else None
    rows = []
    bar = tqdm(total=len(seeds) * len(strengths) * len(extra_sizes), disable=not progress, desc="graphs")
    for seed in seeds:
        h = reference_bandwidth(real_x, embed, reference=reference, views=views, scale=bandwidth_scale, seed=seed)
        for strength in strengths:
            pair = augment.resolve_views(strength)
            f_real = view_features(real_x, pair, views, embed, seed=seed)  # (n, m, d)
            f_extra = view_features(extra_x, pair, views, embed, seed=seed + 1) if n_extra_max else None
            for n_extra in extra_sizes:
                t0 = time.perf_counter()
                feats, labels = f_real, real.labels
                if n_extra:
                    feats = np.concatenate([f_real, f_extra[:n_extra]])
                    labels = np.concatenate([real.labels, extra.labels[:n_extra]])
                terms = graph_terms(feats, labels, bandwidth=h, k=k, seed=seed)
                rows.append({"seed": seed, "strength": str(strength), "n_real": len(real), "n_extra": n_extra,
                             "bandwidth": h, **terms, "seconds": time.perf_counter() - t0})
                bar.update()
    bar.close()
    return rows


def _generated_gap(
    real: data.ImageSet, real_x: Tensor, gen_x: Tensor, gen_labels: np.ndarray, embed: Embed,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, Any], list[str]]:
    """Labels for the generated images (kNN pseudo-labels from real features where −1) and the TV estimate.

    TV is the domain classifier's lower bound on clean (unaugmented) features (`bounds.gap.tv_lower_bound`).
    """
    from bounds import labeling

    clean = AugmentConfig()  # normalisation only; the views' mean/std are the same in every preset
    c_real, c_gen = clean_features(real_x, embed, clean), clean_features(gen_x, embed, clean)
    labels, notes = gen_labels.copy(), []
    known = real.labels >= 0
    if (labels < 0).any() and known.any():
        labels[labels < 0] = labeling.pseudo_labels(c_gen[labels < 0], c_real[known], real.labels[known])
        notes.append("generated images carry kNN pseudo-labels from real features (for alpha)")
    est = gap.tv_lower_bound(c_real, c_gen, rng=rng)
    tv = {"tv": est.tv, "source": "domain classifier on clean features (lower bound)", "ci": [est.ci_low, est.ci_high]}
    return labels, tv, notes


def estimate_bound(
    *,
    augment_views: str | float = "symmetric",
    real_weight: float = 1.0,
    data_name: str | None = None,
    generated: str | None = None,
    root: str | None = None,
    encoder: str | None = None,
    n_real: int = 2000,
    n_generated: int | None = None,
    views: int = 4,
    k: int = 10,
    reference: str | float = 0.5,
    bandwidth_scale: float = DEFAULT_SCALE,
    tv: float = 0.0,
    pixel_dim: int = 128,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """Every term of the bound for one setting (module docstring: the estimator, step by step)."""
    from bounds import bound, labeling

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    assumptions: list[str] = []
    pair = augment.resolve_views(augment_views)
    real = _random_subset(data.load(data_name, split="train", root=root), n_real, rng)
    gen = None
    if generated is not None:
        gen = data.load(generated)
        gen = _random_subset(gen, n_generated if n_generated is not None else len(real), rng)
    embed, space, notes = feature_space(encoder, pixel_dim=pixel_dim, seed=seed, device=device)
    assumptions += notes

    real_x = real.to_tensor()
    f_real = view_features(real_x, pair, views, embed, seed=seed)  # (n_real, m, d)
    h = reference_bandwidth(real_x, embed, reference=reference, views=views, scale=bandwidth_scale, seed=seed)
    labels = real.labels
    features, weights = f_real, np.full(len(real), float(real_weight))
    tv_est: dict[str, Any] = {"tv": tv, "source": "assumed"}
    if gen is not None:
        gen_x = gen.to_tensor()
        features = np.concatenate([f_real, view_features(gen_x, pair, views, embed, seed=seed + 1)])
        weights = np.concatenate([weights, np.ones(len(gen))])
        gen_labels, tv_est, notes = _generated_gap(real, real_x, gen_x, gen.labels, embed, rng)
        assumptions += notes
        labels = np.concatenate([labels, gen_labels])
    elif tv:
        assumptions.append(f"no generated set: TV = {tv} as given")
    terms, adjacency = _measure_graph(features, labels, bandwidth=h, k=k, weights=weights, seed=seed)
    real_only = np.concatenate([real.labels, np.full(len(features) - len(real), -1)])
    alpha_real = labeling.graph_labeling_error(adjacency, real_only, self_loops=False)
    beta = bound.beta(len(real), len(gen) if gen is not None else 0, real_weight)
    b = bound.generalization_bound(alpha=terms["alpha"], lam=terms["lam"], beta=beta, tv=float(tv_est["tv"]))
    return {
        **b.as_dict(), "n_real": len(real), "n_generated": len(gen) if gen is not None else 0,
        "alpha_real": alpha_real, "dup": real_weight, "augment": str(augment_views), "k": k, "views": views,
        "bandwidth": h,
        "reference": str(reference), "feature_space": space, "n_components": terms["n_components"],
        "self_transition_mass": terms["self_transition_mass"], "max_dropped_fraction": terms["max_dropped_fraction"],
        "tv_estimate": tv_est, "assumptions": assumptions, "seconds": time.perf_counter() - t0,
    }


DEFAULT_STRENGTHS = (0.25, 0.5, 0.75, 1.0)
DEFAULT_DUPS = (1.0, 2.0, 5.0, 10.0, 20.0)
DEFAULT_TV = 0.1


def _preset_name(strength: float) -> str | None:
    """The named preset a strength reproduces exactly, if any (`augment.at_strength`'s anchors)."""
    return {0.5: "symmetric_adainf", 1.0: "symmetric"}.get(float(strength))


def _augment_entry(strength: float) -> dict[str, Any]:
    from adainf.config import to_dict

    view1, view2 = augment.at_strength(float(strength))
    return {"strength": float(strength), "preset": _preset_name(strength), "view1": to_dict(view1),
            "view2": to_dict(view2)}


def measure(
    ratio: float,
    *,
    data_name: str | None = None,
    root: str | None = None,
    generated: str | None = None,
    tv: float | None = None,
    encoder: str | None = None,
    strengths: Sequence[float] = DEFAULT_STRENGTHS,
    n_real: int = 2000,
    views: int = 4,
    k: int = 10,
    reference: str | float = 0.5,
    bandwidth_scale: float = DEFAULT_SCALE,
    pixel_dim: int = 128,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """The inflation-independent part of `recommend`: α(s) and the λ(n) curve of every strength s.

    For every strength s: views of up to `n_real` real images -> features -> the augmentation graph with the
    reference bandwidth; α(s) from it (distinct-source mass: n-independent) and λ_{k+1}(s, n_eff) from its
    self-loops diluted to a grid of effective sizes up to max(32, 2(1 + R)) n (`bounds.inflation`), read at
    the Kish size of the inflated set, n (N + R)² / (N² + R). With `generated`, its images join the graph
    (weight 1, up to min(R, 4)·n of them, pseudo-labelled for α) before the dilution, and TV is measured by a
    domain classifier; without it, TV is `tv` (default `DEFAULT_TV`, an assumption the result lists).
    `ratio` matters here only with `generated` (how many generated images join the graph); `rank` evaluates
    any ratio on the result, so a table over R measures once.
    """
    from tqdm.auto import tqdm

    from bounds import inflation

    t0 = time.perf_counter()
    if not (np.isfinite(ratio) and ratio >= 0):
        raise ValueError(f"--ratio must be a non-negative number, got {ratio!r}")
    if not strengths:
        raise ValueError("need at least one strength")
    for s in strengths:
        augment.at_strength(float(s))  # validates the range with the augmentation's own message
    rng = np.random.default_rng(seed)
    assumptions: list[str] = []
    real = _random_subset(data.load(data_name, split="train", root=root), n_real, rng)
    if real.n_labeled < len(real):
        raise ValueError(f"{data_name or 'bundled'}: recommend needs labelled real images to estimate alpha")
    embed, space, notes = feature_space(encoder, pixel_dim=pixel_dim, seed=seed, device=device)
    assumptions += notes
    real_x = real.to_tensor()
    h = reference_bandwidth(real_x, embed, reference=reference, views=views, scale=bandwidth_scale, seed=seed)
    n = len(real)
    gen = gen_x = gen_labels = None
    tv_info: dict[str, Any]
    if generated is not None:
        pool = data.load(generated)
        want = min(len(pool), max(1, round(ratio * n)), 4 * n)
        gen = _random_subset(pool, want, rng)
        gen_x = gen.to_tensor()
        gen_labels, tv_info, notes = _generated_gap(real, real_x, gen_x, gen.labels, embed, rng)
        assumptions += notes
        if want < round(ratio * n):
            assumptions.append(f"lambda at R = {ratio} extrapolated from {want} generated images (of "
                               f"{round(ratio * n)} the ratio implies)")
    else:
        tv_value = DEFAULT_TV if tv is None else float(tv)
        tv_info = {"tv": tv_value, "source": "given" if tv is not None else "assumed default"}
    alphas, curves, measured = {}, {}, []
    top = max(32.0, 2.0 * (1.0 + float(ratio)))
    bar = tqdm(total=len(strengths), disable=not progress, desc="strengths", unit="strength")
    for s in strengths:
        s = float(s)
        f = view_features(real_x, augment.at_strength(s), views, embed, seed=seed)  # (n, m, d)
        y, n_pool = real.labels, n
        if gen is not None:
            f = np.concatenate([f, view_features(gen_x, augment.at_strength(s), views, embed, seed=seed + 1)])
            y, n_pool = np.concatenate([y, gen_labels]), n + len(gen)
        terms, adjacency = _measure_graph(f, y, bandwidth=h, k=k, seed=seed)
        measured.append({"strength": s, "n": n, "generated": n_pool - n, **terms})
        # grid of n_eff from n (the real set alone) to `top` n, as multiples of the measured pool
        multiples = np.geomspace(1.0, top, 6) * n / n_pool
        alphas[s] = terms["alpha"]
        curves[s] = inflation.lambda_curve(adjacency, k=k, n_sources=n_pool, multiples=tuple(multiples))
        bar.update()
    bar.close()
    return {
        "alphas": alphas, "curves": curves, "measured": measured, "tv_estimate": tv_info,
        "feature_space": space, "bandwidth": h, "n_real": n, "n_generated": len(gen) if gen is not None else 0,
        "k": k, "views": views, "assumptions": assumptions, "seconds": time.perf_counter() - t0,
    }


def rank(measurement: dict[str, Any], ratio: float, *, dups: Sequence[float] = DEFAULT_DUPS) -> dict[str, Any]:
    """The bound over N x strength at ratio R from a `measure` result, best first (`bounds.inflation`)."""
    from bounds import inflation

    if not (np.isfinite(ratio) and ratio >= 0):
        raise ValueError(f"--ratio must be a non-negative number, got {ratio!r}")
    if not dups or any(not (np.isfinite(d) and d > 0) for d in dups):
        raise ValueError(f"dups must be positive numbers, got {list(dups)}")
    m = measurement
    tv_value = float(m["tv_estimate"]["tv"])
    assumptions = list(m["assumptions"])
    if ratio > 0 and not m["n_generated"]:
        assumptions.append(
            f"no generated set: lambda at R = {ratio:g} is predicted by diluting the real graph's self-loops to "
            f"the inflated set's effective size (an ideal generator); TV = {tv_value:g} is "
            + ("as given" if m["tv_estimate"]["source"] == "given"
               else "an assumed default (measure it with --generated)"))
    ranked = inflation.grid_bounds(m["alphas"], m["curves"], n_real=m["n_real"], ratio=float(ratio),
                                   dups=[float(d) for d in dups], tv=tv_value)
    candidates = [{"dup": c.dup, "augment": _augment_entry(c.strength), "n_eff": c.n_eff, "alpha": c.terms.alpha,
                   "lambda": c.terms.lam, "beta": c.terms.beta, "tv": c.terms.tv, "gap_term": c.terms.gap_term,
                   "bound": c.terms.total, "terms": c.terms.as_dict()} for c in ranked]
    best = candidates[0]
    return {
        "ratio": float(ratio),
        "recommended": {"dup": best["dup"], "augment": best["augment"], "bound": best["bound"]},
        "candidates": candidates,
        "curves": {str(s): {"sizes": list(c.sizes), "lams": list(c.lams)} for s, c in m["curves"].items()},
        **{key: m[key] for key in ("measured", "tv_estimate", "feature_space", "bandwidth", "n_real",
                                   "n_generated", "k", "views", "seconds")},
        "assumptions": assumptions,
    }


def recommend(ratio: float, *, dups: Sequence[float] = DEFAULT_DUPS, **kwargs: Any) -> dict[str, Any]:
    """The bound over real weight N x augmentation strength at inflation ratio R, and the best setting.

    `measure` (keyword arguments as there) then `rank`. The result: ratio, recommended {dup, augment, bound},
    candidates best first (dup, augment, n_eff, alpha, lambda, beta, tv, gap_term, bound, terms), the λ curves,
    every measured graph, the TV estimate, the feature space, assumptions and seconds.
    """
    t0 = time.perf_counter()
    result = rank(measure(ratio, **kwargs), ratio, dups=dups)
    result["seconds"] = time.perf_counter() - t0
    return result


def recommended_config(
    result: dict[str, Any], *, method: str = "simclr", data_name: str | None = None, generated: str | None = None
) -> Any:
    """The `RunConfig` that trains the recommendation: the method's recipe with the chosen views and N."""
    from dataclasses import replace

    from adainf import methods
    from adainf.config import ViewsConfig

    cfg = methods.preset(method)
    view1, view2 = augment.at_strength(result["recommended"]["augment"]["strength"])
    return replace(cfg, augment=ViewsConfig(view1=view1, view2=view2),
                   data=replace(cfg.data, train=data_name, generated=generated,
                                real_weight=float(result["recommended"]["dup"])))


def plot_bound(result: dict[str, Any], path: str | Path) -> None:
    """A seaborn heatmap of the bound over N x strength with the recommendation marked (PNG/PDF by suffix)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import seaborn as sns
    except ImportError as e:
        raise ValueError("--plot needs seaborn and matplotlib: pip install 'adainf[notebooks]'") from e
    rows = result["candidates"]
    dups = sorted({c["dup"] for c in rows})
    strengths = sorted({c["augment"]["strength"] for c in rows})
    grid = np.full((len(dups), len(strengths)), np.nan)
    for c in rows:
        grid[dups.index(c["dup"]), strengths.index(c["augment"]["strength"])] = c["bound"]
    fig, ax = plt.subplots(figsize=(1.4 * len(strengths) + 2, 0.6 * len(dups) + 1.8))
    sns.heatmap(np.where(np.isfinite(grid), grid, np.nan), annot=True, fmt=".2f", cmap="viridis_r", ax=ax,
                xticklabels=[f"{s:g}" for s in strengths], yticklabels=[f"{d:g}" for d in dups],
                cbar_kws={"label": "bound (reconstructed Thm 4.1)"})
    rec = result["recommended"]
    ax.add_patch(plt.Rectangle((strengths.index(rec["augment"]["strength"]), dups.index(rec["dup"])), 1, 1,
                               fill=False, edgecolor="red", lw=2.5))
    ax.set_xlabel("augmentation strength")
    ax.set_ylabel("real weight N")
    ax.set_title(f"adainf recommend, R = {result['ratio']:g}")
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.stem}.tmp{p.suffix}")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(p)


@dataclass(frozen=True)
class GapEstimate:
    """The gap between a real reference half and one other set, on given features.

    Attributes:
        tv_linear: `bounds.gap.tv_lower_bound` with a logistic classifier (mean differences).
        tv_quadratic: the same with per-feature quadratic terms (also spread differences).
        frechet: `bounds.gap.frechet_distance` between Gaussian fits of the two feature sets.
        n: samples per set.
    """

    tv_linear: gap.TVEstimate
    tv_quadratic: gap.TVEstimate
    frechet: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"tv_linear": asdict(self.tv_linear),
                "tv_quadratic": asdict(self.tv_quadratic), "frechet": self.frechet, "n": self.n}


def gap_estimate(real_features: np.ndarray, other_features: np.ndarray, *, rng: np.random.Generator) -> GapEstimate:
    """TV lower bounds (linear, quadratic classifiers) and Fréchet distance between two (n, d) feature sets."""
    return GapEstimate(
        tv_linear=gap.tv_lower_bound(real_features, other_features, rng=rng, classifier="logistic"),
        tv_quadratic=gap.tv_lower_bound(real_features, other_features, rng=rng, classifier="quadratic"),
        frechet=gap.frechet_distance(real_features, other_features),
        n=min(len(real_features), len(other_features)),
    )
