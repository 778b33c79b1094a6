"""Distributed training on the CPU with gloo: the gathered loss's gradient, 2 processes training like one on
the combined batch, batch norm per process, a 2-process run, resuming onto another process count, a dying rank."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from sslterm import catalog, config
from sslterm.models import build_encoder
from sslterm.objectives import Context, build_objective
from sslterm.objectives.infonce import info_nce
from sslterm.store import Run, Status, create_run, read_status, write_status
from sslterm.store.status import write_json_atomic
from sslterm.train.loop import train
from sslterm.utils.device import pick_device
from sslterm.utils.dist import cleanup, gather, parallel, setup
from tests.conftest import TINY, sslterm, tiny_sets, wait_for

B, D, WORLD, TAU = 4, 6, 2, 0.3


def views(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + rank)                 # the ranks hold different data
    return torch.randn(B, D, generator=g), torch.randn(B, D, generator=g)


def _rank(rank: int, init: str, out: str, negatives: str = "both_views") -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    z1, z2 = (v.requires_grad_() for v in views(rank))
    loss, _ = info_nce(gather(z1), gather(z2), TAU, negatives)
    loss.backward()
    assert z1.grad is not None and z2.grad is not None
    torch.save({"loss": loss.detach(), "g1": z1.grad, "g2": z2.grad}, f"{out}/rank{rank}.pt")
    dist.barrier()                                   # nobody tears gloo down while a peer still talks
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda"])
def test_one_process_trains_on_the_device_pick_device_chooses(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    if name == "cuda" and not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            setup(name)
        return
    info, device = setup(name)
    assert info.world == 1 and device == pick_device(name)


@pytest.mark.parametrize("negatives", ["both_views", "cross_view"])
def test_gathered_infonce_gradient_equals_the_single_process_one(tmp_path: Path, negatives: str) -> None:
    mp.spawn(_rank, args=(f"tcp://127.0.0.1:{free_port()}", str(tmp_path), negatives), nprocs=WORLD, join=True)
    z1, z2 = (torch.cat(parts).requires_grad_() for parts in zip(*(views(r) for r in range(WORLD)), strict=True))
    loss, _ = info_nce(z1, z2, TAU, negatives)
    loss.backward()
    assert z1.grad is not None and z2.grad is not None
    for r in range(WORLD):
        got = torch.load(tmp_path / f"rank{r}.pt")
        assert torch.allclose(got["loss"], loss.detach(), atol=1e-6)
        # each rank's all_gather backward sums every rank's identical loss: WORLD times the gradient,
        # which DDP's averaging over ranks divides back out
        assert torch.allclose(got["g1"] / WORLD, z1.grad[r * B:(r + 1) * B], atol=1e-6)
        assert torch.allclose(got["g2"] / WORLD, z2.grad[r * B:(r + 1) * B], atol=1e-6)


# ---- a 2-process run equals a 1-process run on the combined batch ------------------------------

OBJECTIVES = ("infonce", "vicreg", "barlow_twins", "dino")
STEPS, LOCAL_B = 3, 4                                        # optimiser steps; examples per process


class TwoViews:
    """A deterministic stand-in for augmentation: the first view is the images, the second their mirror.

    The objectives ask for two views per forward; with no randomness, the only difference between
    the runs compared below is how the batch is split over processes.
    """

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, batch: dict[str, torch.Tensor], gen: torch.Generator) -> dict[str, torch.Tensor]:
        self.calls += 1
        return batch if self.calls % 2 else {"x": batch["x"].flip(-1)}


def images(rank: int, step: int) -> torch.Tensor:
    """This rank's batch at ``step`` [LOCAL_B, 3, 16, 16]: different on every rank and every step."""
    return torch.rand(LOCAL_B, 3, 16, 16, generator=torch.Generator().manual_seed(1000 * rank + step),
                      dtype=torch.float64)


def train_steps(name: str, ranks: range, frozen_bn: bool) -> dict[str, torch.Tensor]:
    """STEPS optimiser steps of ``name`` on the batches of ``ranks`` (concatenated), as the loop takes them.

    Float64, so that the comparison is tight. Returns the (DDP-averaged) gradient after each backward
    and the final parameters, each flattened into one vector. ``frozen_bn`` holds every batch norm in
    eval mode: its running statistics make it a fixed affine map that no longer couples the examples.
    SGD rather than the loop's AdamW: AdamW divides each coordinate's step by its gradient's size, so
    where the true gradient is zero (a bias that Barlow Twins' batch standardisation removes) it turns
    summation-order noise (1e-14) into real steps, and the runs part for a reason that is not the split.
    """
    torch.manual_seed(0)                                       # the same initial weights everywhere
    encoder = build_encoder("cnn", {"channels": 3, "image_size": 16},
                            {"width": 4, "stages": 2, "blocks": 1, "stem_stride": 2})
    options = catalog.get("objective", name).defaults()
    objective = build_objective(name, Context(encoder, {}, 16, 8), options).double()
    step_fn = parallel(objective, torch.device("cpu"))
    optimizer = torch.optim.SGD(list(objective.trainable()), lr=0.05, momentum=0.9, weight_decay=1e-4)
    objective.train()
    if frozen_bn:
        for m in objective.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    augment, grads = TwoViews(), []
    for step in range(STEPS):
        batch = {"x": torch.cat([images(r, step) for r in ranks])}
        loss, _ = step_fn(batch, augment, torch.Generator())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in objective.trainable() if p.grad is not None]))
        optimizer.step()
        objective.after_step(step + 1, STEPS)
    return {"grads": torch.stack(grads), "params": torch.cat([p.detach().flatten() for p in objective.parameters()])}


def _equivalence_rank(rank: int, init: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    results = {f"{name}/bn_frozen={frozen}": train_steps(name, range(rank, rank + 1), frozen)
               for name in OBJECTIVES for frozen in (True, False)}
    try:
        parallel(nn.Sequential(nn.BatchNorm1d(2)), torch.device("cpu"), sync_batchnorm=True)
    except ValueError as e:
        (Path(out) / f"sync_bn.rank{rank}.txt").write_text(str(e))
    torch.save(results, f"{out}/train.rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_rank_training(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every objective trained STEPS steps by 2 gloo processes, batch norms frozen and not (one spawn)."""
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_equivalence_rank, args=(f"tcp://127.0.0.1:{free_port()}", str(out)), nprocs=WORLD, join=True)
    return out


@pytest.mark.parametrize("name", OBJECTIVES)
def test_two_processes_take_the_steps_one_takes_on_the_combined_batch(two_rank_training: Path, name: str) -> None:
    alone = train_steps(name, range(WORLD), frozen_bn=True)
    for r in range(WORLD):
        got = torch.load(two_rank_training / f"train.rank{r}.pt")[f"{name}/bn_frozen=True"]
        # the gradient DDP leaves after each backward is the single-process one, loss scaling included
        # (a 1/N or N error in the loss scaling would show here)
        torch.testing.assert_close(got["grads"], alone["grads"], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(got["params"], alone["params"], rtol=1e-9, atol=1e-12)


def test_batch_norm_statistics_per_process_make_the_gradient_differ(two_rank_training: Path) -> None:
    for name in OBJECTIVES:
        alone = train_steps(name, range(WORLD), frozen_bn=False)["grads"][0]
        got = torch.load(two_rank_training / "train.rank0.pt")[f"{name}/bn_frozen=False"]["grads"][0]
        assert (got - alone).norm() > 1e-3 * alone.norm(), name


def test_sync_batchnorm_is_refused_on_the_cpu(two_rank_training: Path) -> None:
    for r in range(WORLD):
        assert "train.sync_batchnorm" in (two_rank_training / f"sync_bn.rank{r}.txt").read_text()


def test_sync_batchnorm_conversion_keeps_the_optimised_parameters() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    before = list(model.parameters())
    assert nn.SyncBatchNorm.convert_sync_batchnorm(model) is model      # what ``parallel`` relies on
    assert isinstance(model[1], nn.SyncBatchNorm)
    assert all(a is b for a, b in zip(before, model.parameters(), strict=True))


def test_two_processes_show_as_one_run(runs: Path) -> None:
    proc = sslterm("run", *tiny_sets("train.steps=8"), "--nproc", "2", runs=runs, timeout=240)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(sslterm("show", "image-infonce", "--json", runs=runs).stdout)
    assert rec["status"] == "finished" and rec["step"] == 8
    status = json.loads((Path(rec["path"]) / "status.json").read_text())
    assert status["world"] == 2
    steps = [r["step"] for r in map(json.loads, (Path(rec["path"]) / "metrics.jsonl").read_text().splitlines())]
    assert steps == sorted(set(steps)), "only rank 0 writes metrics"
    assert (Path(rec["path"]) / "heartbeat.rank1").is_file(), "every rank beats"


# ---- resuming a distributed run -----------------------------------------------------------------

RESUME_SETS = (*TINY, "train.steps=8", "eval.every=4", "eval.max_examples=32", "eval.bank_size=64",
               "train.checkpoint_every=100")
WALL_CLOCK = ("t", "time", "samples_per_s")


def _resume_rank(rank: int, port: int, whole: str, parted: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    exp = config.from_overrides(RESUME_SETS)
    train(exp, Run(Path(whole)), lambda: False, lambda s, d: None)
    asked: list[int] = []                        # with 2 processes the stop is asked at log steps: 2, 4
    out = train(exp, Run(Path(parted)), lambda: asked.append(1) or len(asked) == 2, lambda s, d: None)
    assert out.stopped and out.step == 4
    train(exp, Run(Path(parted)), lambda: False, lambda s, d: None, resume=True)
    cleanup(sync=True)


def test_two_processes_resumed_with_two_continue_exactly(tmp_path: Path) -> None:
    whole, parted = create_run(tmp_path, "whole"), create_run(tmp_path, "parted")
    mp.spawn(_resume_rank, args=(free_port(), str(whole.path), str(parted.path)), nprocs=WORLD, join=True)
    # every rank's batch generator is in the checkpoint: the same batches, the same records
    steady = [[{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in run.metrics()] for run in (whole, parted)]
    assert steady[0] == steady[1]
    assert [r["step"] for r in steady[1]] == [2, 4, 6, 8]


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def _status(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def _ended(record: dict, key: str = "state") -> dict | None:
    """``record`` once its run has ended, else None."""
    return None if record[key] in ("running", "starting") else record


def test_a_run_resumes_onto_another_number_of_processes(runs: Path) -> None:
    sets = tiny_sets("train.steps=100000", "train.checkpoint_every=100000")
    run_id = sslterm("run", *sets, "--nproc", "2", "-d", runs=runs).stdout.strip()
    run_dir, stopped_at, kept = runs / run_id, 0, []
    for nproc in (2, 1, 2):                     # 2 processes, then 2 → 1, then 1 → 2
        if stopped_at:
            proc = sslterm("resume", run_id, "--nproc", str(nproc), "-d", runs=runs)
            assert proc.returncode == 0, proc.stderr

        def trained_past(after: int = stopped_at) -> bool:
            return _status(run_dir)["state"] == "running" and any(r["step"] > after for r in _metrics(run_dir))

        def where(after: int = stopped_at) -> str:
            return f"a step past {after}: {_status(run_dir)}"

        wait_for(trained_past, timeout=120, what=where)
        assert sslterm("stop", run_id, runs=runs).returncode == 0
        status = wait_for(lambda: _ended(_status(run_dir)), timeout=120, what=lambda: f"the stop: {_status(run_dir)}")
        assert status["state"] == "stopped" and status["world"] == nproc, status
        records = _metrics(run_dir)
        steps = [r["step"] for r in records]
        assert steps == sorted(set(steps)), "no step logged twice"
        assert all(math.isfinite(r["loss"]) for r in records)
        if stopped_at:
            assert f"resumed from the checkpoint at step {stopped_at}" in (run_dir / "worker.log").read_text()
            assert [r for r in records if r["step"] <= stopped_at] == kept, "nothing logged before is lost"
            # one process stops at any step, two at log steps (every 2): the next record is the next log step
            assert min(s for s in steps if s > stopped_at) == (stopped_at // 2 + 1) * 2
        stopped_at = status["step"]
        kept = [r for r in records if r["step"] <= stopped_at]
    rec = json.loads(sslterm("show", run_id, "--json", runs=runs).stdout)
    assert rec["world"] == 2 and rec["global_batch"] == 2 * 16


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_dying_rank_fails_the_run_and_is_named(runs: Path) -> None:
    sets = tiny_sets("train.steps=100000", "train.log_every=1")
    run_id = sslterm("run", *sets, "--nproc", "2", "-d", runs=runs).stdout.strip()
    beat = runs / run_id / "heartbeat.rank1"

    def shown() -> dict:
        return json.loads(sslterm("show", run_id, "--json", runs=runs).stdout)

    wait_for(lambda: beat.exists() and shown()["step"] >= 2, timeout=120, what="step 2 with two ranks")
    os.kill(int(beat.read_text().split()[1]), signal.SIGKILL)
    rec = wait_for(lambda: _ended(shown(), "status"), timeout=120, what="the run to end after rank 1 was killed")
    assert rec["status"] == "failed" and "rank 1" in rec["error"], rec


def _record_failure(run_dir: Path, code: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sslterm.supervise", str(run_dir), "--record-failure", str(code)],
                          capture_output=True, text=True, timeout=60)


def test_a_job_on_several_nodes_records_its_failing_rank(tmp_path: Path) -> None:
    run = create_run(tmp_path, "multinode")                  # what a job script leaves when rank 2 fails
    write_status(run.path, Status(id=run.id, state="running", world=4))
    write_json_atomic(run.path / "rank2.error", {"rank": 2, "error": "RuntimeError: boom"})
    assert _record_failure(run.path, 1).returncode == 0
    status = read_status(run.path)
    assert status.state == "failed" and status.error == "rank 2 failed: RuntimeError: boom"
    write_status(run.path, status.evolve(state="stopped", error=None))   # workers that stopped cleanly
    assert _record_failure(run.path, 1).returncode == 0
    assert read_status(run.path).state == "stopped"


def test_torchrun_with_one_process_joins_the_group_and_runs_the_distributed_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``torchrun --nproc-per-node=1`` (RANK set, WORLD_SIZE 1) runs DDP and the collectives, as a job of N does."""
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(key, value)
    info, device = setup("cpu")
    try:
        assert dist.is_initialized() and dist.get_backend() == "gloo" and (info.rank, info.world) == (0, 1)
        wrapped = parallel(nn.Linear(3, 2), device)
        assert isinstance(wrapped, nn.parallel.DistributedDataParallel)
        t = torch.arange(6.0).reshape(3, 2)
        assert torch.equal(gather(t), t)
    finally:
        cleanup(sync=True)
    assert not dist.is_initialized()


def test_without_torchrun_one_process_stays_out_of_any_group(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    info, device = setup("cpu")
    assert not dist.is_initialized() and info.world == 1
    layer = nn.Linear(3, 2)
    assert parallel(layer, device) is layer
