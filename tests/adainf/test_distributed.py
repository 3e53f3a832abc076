"""Data-parallel training equals one process with the same global batch (2 gloo ranks on CPU, via torchrun).

The multi-process parts run this file as a torchrun script (`python test_distributed.py WORKER OUT`), so
each launch pays one torchrun start (about 10 s here); the launches are module fixtures shared by the tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from adainf import augment, config, data, distributed, methods, runs
from adainf.inflation import InflatedIndex, step_generator
from adainf.train import _AUGMENT_STREAM, build, train, train_step

WORLD = 2
TINY = [
    "model.backbone=convnet", "model.width=8", "model.proj_hidden=32", "model.proj_out=16",
    "model.pred_hidden=32", "train.batch_size=16", "train.queue_size=64", "train.warmup_steps=2",
    "device=cpu", "precision=fp32", "eval_every=0", "log_every=1",
]  # fmt: skip
METHODS = ["simclr", "barlow", "mocov2", "byol"]
CLI_TRAIN = ["train", "--method", "simclr", "--backbone", "convnet", "--width", "8", "--batch", "16", "--steps",
             "20", "--device", "cpu", "--precision", "fp32", "--no-progress", "--json", "model.proj_hidden=32",
             "model.proj_out=16", "train.warmup_steps=2", "eval_every=0", "log_every=1"]


def tiny(method: str, *extra: str):
    return methods.resolve_config(None, [*TINY, *extra], method=method)


def first_step(cfg, ctx: distributed.Context | None = None) -> dict:
    """Loss, parts and gradients of step 0 on the bundled data: the whole batch, or this rank's rows of it."""
    # torch's channels-last batch-norm backward on CPU is off by ~1e-3 relative (vs float64) on this model, a
    # reference error the contiguous layout does not have (~5e-6).
    cfg = config.apply_overrides(cfg, ["channels_last=false"])
    ctx = ctx or distributed.Context()
    real = data.load_bundled("train")
    tr = build(cfg, real.num_classes, torch.device("cpu"), ctx)
    idx = InflatedIndex(len(real)).sample(0, cfg.train.batch_size, cfg.seed)[ctx.rows(cfg.train.batch_size)]
    images = real.to_tensor("cpu")[idx]  # (B, 3, 32, 32), or this rank's (B/W, ...)
    labels = torch.from_numpy(real.labels)[idx]
    loss, parts = train_step(tr, images, labels, 0)
    named = [*tr.model.named_parameters(), *(("probe." + n, p) for n, p in tr.probe.named_parameters())]
    grads = {n: p.grad.clone() for n, p in named if p.grad is not None}
    # After the step: momentum encoders, the MoCo queue and batch-norm running statistics.
    state = {k: v.clone() for k, v in tr.model.state_dict().items()
             if k.startswith(("momentum_", "queue")) or "running_" in k or "num_batches" in k}
    return {"loss": loss, "parts": parts, "grads": grads, "state": state}


# --------------------------------------------------------------------------------------------------
# Workers: run by torchrun, one process per rank


def _worker_steps(out: Path) -> None:
    ctx, _, _ = distributed.init(torch.device("cpu"))
    # The gather itself: rows in rank order forward; backward = this rank's slice of the summed gradient.
    x = torch.full((2, 3), float(ctx.rank + 1), requires_grad=True)
    y = distributed.gather_with_grad(x)  # (4, 3)
    (y * torch.arange(4.0)[:, None]).sum().backward()  # d/dy = row index, the same on every rank
    result = {"gathered": y.detach(), "grad": x.grad}
    for method in METHODS:
        result[method] = first_step(tiny(method), ctx)
    torch.save(result, out / f"steps-rank{ctx.rank}.pt")


def _record_writes(out: Path) -> None:
    """Make every run-directory write also note its rank in OUT/writes-rank<r>.txt."""
    rank = os.environ["RANK"]

    def recorded(name: str):
        real = getattr(runs, name)

        def write(*args, **kwargs):
            with open(out / f"writes-rank{rank}.txt", "a") as f:
                f.write(name + "\n")
            return real(*args, **kwargs)

        return write

    for name in ("create", "append_metrics", "save_checkpoint", "truncate_metrics"):
        setattr(runs, name, recorded(name))


def _run_cli(argv: list[str]) -> None:
    """`python -m adainf ARGV`, as torchrun -m adainf would run it (SystemExit carries the exit code)."""
    import runpy

    sys.argv = ["adainf", *argv]
    runpy.run_module("adainf", run_name="__main__", alter_sys=True)


def _worker_cli(out: Path) -> None:
    # One process group for both commands: torch does not reliably re-create the default group inside one
    # torchrun worker, and `train` leaves a group it did not create in place. (The "fail" launch covers
    # `train` creating the group from the environment itself.)
    distributed.init(torch.device("cpu"))
    _record_writes(out)
    argv = [*CLI_TRAIN, "--out-dir", str(out / "runs")]
    for name, until, code in (("split", "10", 0), ("split", "1", 2)):  # the second: the directory exists
        try:
            _run_cli([*argv, "--name", name, "--until", until])
        except SystemExit as e:
            (out / f"exit-rank{os.environ['RANK']}-{code}.txt").write_text(str(e.code))
    _run_cli(argv)  # unnamed: rank 0's timestamp names it


def _worker_fail(out: Path) -> None:
    import adainf.train

    real_step = adainf.train.train_step

    def failing(tr, images, labels, step):
        if step == 3 and tr.dist.rank == 1:
            raise RuntimeError("injected failure on rank 1 at step 3")
        return real_step(tr, images, labels, step)

    adainf.train.train_step = failing
    _run_cli([*CLI_TRAIN, "--steps", "200", "--out-dir", str(out / "runs")])


WORKERS = {"steps": _worker_steps, "cli": _worker_cli, "fail": _worker_fail}


def torchrun(worker: str, out: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    """Run WORKERS[worker] on WORLD gloo ranks; a hang past `timeout` stops the launch and fails the test."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
           __file__, worker, str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # Files, not pipes: ranks that outlive torchrun must not keep the test waiting for end-of-file.
    with open(out / "stdout.txt", "w") as stdout, open(out / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=env)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # torchrun's agent stops its ranks on SIGTERM
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            tail = (out / "stderr.txt").read_text()[-3000:]
            pytest.fail(f"torchrun {worker} did not finish in {timeout} s (deadlock?)\n{tail}")
    return subprocess.CompletedProcess(cmd, proc.returncode, (out / "stdout.txt").read_text(),
                                       (out / "stderr.txt").read_text())


# --------------------------------------------------------------------------------------------------
# Launches, once per module


@pytest.fixture(scope="module")
def steps_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("steps")
    done = torchrun("steps", out)
    assert done.returncode == 0, done.stderr[-3000:]
    return [torch.load(out / f"steps-rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    start = time.perf_counter()
    done = torchrun("cli", out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done, time.perf_counter() - start


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    """The one-process reference: the same SimCLR run through the same CLI, its first 2 of 20 steps."""
    from adainf.cli import main

    out = tmp_path_factory.mktemp("single")
    assert main([*CLI_TRAIN, "--out-dir", str(out), "--name", "full", "--until", "2"]) == 0
    return out / "full"


def train_losses(run_dir: Path) -> np.ndarray:
    rows = [r for r in runs.read_metrics(run_dir) if r["kind"] == "train"]
    assert [r["step"] for r in rows] == list(range(1, len(rows) + 1))  # each step once: no rank wrote twice
    return np.array([r["loss"] for r in rows])


# --------------------------------------------------------------------------------------------------
# Tests


def test_gather_with_grad_returns_rows_in_rank_order_and_the_summed_gradient_slice(steps_run):
    for rank, result in enumerate(steps_run):
        torch.testing.assert_close(result["gathered"], torch.tensor([1.0, 1, 2, 2])[:, None].expand(4, 3))
        # Each rank's loss weights row i by i; summed over 2 ranks, rank r's rows 2r, 2r+1 get 2 * (2r, 2r+1).
        expected = 2 * torch.tensor([2.0 * rank, 2 * rank + 1])[:, None].expand(2, 3)
        torch.testing.assert_close(result["grad"], expected)


@pytest.mark.parametrize("method", METHODS)
def test_first_step_loss_and_gradients_equal_one_process(steps_run, method):
    single = first_step(tiny(method))
    for result in steps_run:  # every rank computes the global loss and ends with the averaged gradients
        ddp = result[method]
        torch.testing.assert_close(ddp["loss"], single["loss"], rtol=1e-5, atol=0)
        for name, value in single["parts"].items():
            torch.testing.assert_close(ddp["parts"][name], value, rtol=1e-5, atol=1e-6)
        assert ddp["grads"].keys() == single["grads"].keys()
        # A bias just before a batch norm has zero gradient in exact arithmetic, so its float noise (~1e-7) is
        # judged against the gradient scale of the whole model, not its own.
        scale = max(float(g.abs().max()) for g in single["grads"].values())
        for name, grad in single["grads"].items():
            error = float((ddp["grads"][name] - grad).abs().max())
            assert error <= 1e-4 * float(grad.abs().max()) + 1e-5 * scale, (name, error)
        assert ddp["state"].keys() == single["state"].keys()
        for name, value in single["state"].items():
            torch.testing.assert_close(ddp["state"][name], value, rtol=1e-4, atol=1e-6, msg=name)
    if method == "mocov2":  # the queue holds the global keys, identically on every rank
        assert int(steps_run[0][method]["state"]["queue_ptr"]) == 16
    torch.testing.assert_close(steps_run[0][method]["state"], steps_run[1][method]["state"], rtol=0, atol=0)


def test_union_of_rank_indices_is_the_single_process_batch():
    index = InflatedIndex(n_real=500, n_generated=4500, real_weight=3.0)  # beta = 0.25
    for step in range(3):
        whole = index.sample(step, 4096, seed=7)
        shares = [whole[distributed.Context(r, 4).rows(4096)] for r in range(4)]
        assert all(len(s) == 1024 for s in shares)
        torch.testing.assert_close(torch.cat(shares), whole, rtol=0, atol=0)
        real_frac = float((torch.cat(shares) < 500).float().mean())
        assert abs(real_frac - index.beta) < 3 * (index.beta * (1 - index.beta) / 4096) ** 0.5


def test_global_batch_must_divide_among_ranks():
    with pytest.raises(ValueError, match="divisible"):
        distributed.Context(0, 3).rows(16)


@pytest.mark.parametrize("preset", ["symmetric", "asymmetric"])
def test_union_of_rank_views_is_the_single_process_views(preset):
    pair = augment.resolve_views(preset)
    images = torch.from_numpy(data.load_bundled("train").images[:12]).permute(0, 3, 1, 2).contiguous()
    w1, w2 = augment.views(images, pair, step_generator(0, 5, _AUGMENT_STREAM))  # (12, 3, 32, 32) each
    shares = [distributed.shard_views(images[rows], pair, step_generator(0, 5, _AUGMENT_STREAM), rows, 12)
              for rows in (distributed.Context(r, 3).rows(12) for r in range(3))]
    # Bit-identical on CPU: each view depends only on its image and its parameters.
    assert torch.equal(torch.cat([s[0] for s in shares]), w1) and torch.equal(torch.cat([s[1] for s in shares]), w2)


def unnamed_run(out: Path) -> Path:
    (run_dir,) = [p for p in (out / "runs").iterdir() if p.name != "split"]  # one: rank 0 named it
    return run_dir


def test_two_process_cli_run_matches_one_process_and_only_rank0_writes(cli_run, single_run):
    out, done, seconds = cli_run
    assert not (out / "writes-rank1.txt").exists()
    assert "create" in (out / "writes-rank0.txt").read_text().split()
    # One JSON result per command on stdout: rank 1's stdout is silenced.
    assert [json.loads(line)["steps"] for line in done.stdout.splitlines() if line.startswith("{")] == [10, 20]
    ddp, single = train_losses(unnamed_run(out)), train_losses(single_run)
    assert len(ddp) == 20 and len(single) == 2
    # Step 1 is the forward pass on the same batch and views; step 2 also follows the first update. Later
    # steps drift apart as float noise grows: one process alone drifts as far when only its memory layout
    # changes (channels_last on/off: 6e-3 relative by step 20 on this tiny model).
    np.testing.assert_allclose(ddp[:2], single, rtol=1e-4)
    print(f"2-process launch {seconds:.1f} s; first-step loss {ddp[0]:.7f} vs {single[0]:.7f} "
          f"(rel {abs(ddp[0] - single[0]) / abs(single[0]):.1e})")


def test_an_error_creating_the_run_directory_stops_every_rank_with_rank0s_message(cli_run):
    out, done, _ = cli_run
    assert [(out / f"exit-rank{r}-2.txt").read_text() for r in range(WORLD)] == ["2", "2"]
    assert done.stderr.count("run directory exists and is not empty") == WORLD
    assert "(raised on rank 0)" in done.stderr


def test_resume_with_one_process_continues_a_two_process_run(cli_run):
    out, _, _ = cli_run
    split, full = out / "runs" / "split", train_losses(unnamed_run(out))
    assert runs.load_checkpoint(runs.latest_checkpoint(split))["step"] == 10
    np.testing.assert_allclose(train_losses(split), full[:10], rtol=1e-6)  # 2 ranks: the same run twice
    train(None, resume=split, until=12, progress=False)  # type: ignore[arg-type]
    resumed = train_losses(split)
    assert len(resumed) == 12
    # Step 11 is the checkpointed state on the same global batch; step 12 after one single-process update.
    np.testing.assert_allclose(resumed[10:12], full[10:12], rtol=1e-4)


def test_an_exception_on_rank_1_ends_every_rank_with_its_message(tmp_path):
    start = time.perf_counter()
    done = torchrun("fail", tmp_path)
    seconds = time.perf_counter() - start
    assert done.returncode != 0
    # torchrun's summary names the first failure, rank 1's exception (the other rank then fails in a collective).
    assert "injected failure on rank 1 at step 3" in done.stderr.split("Root Cause")[-1]
    assert not any(line.startswith("{") for line in done.stdout.splitlines())  # rank 0 did not finish
    assert seconds < 60, seconds


if __name__ == "__main__":  # torchrun entry: WORKER OUT
    WORKERS[sys.argv[1]](Path(sys.argv[2]))
