"""Distributed training on the CPU with gloo: the gathered loss's gradient, a 2-process run, a dying rank."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sslterm.objectives.infonce import info_nce
from sslterm.train.dist import gather
from tests.conftest import sslterm, tiny_sets

B, D, WORLD, TAU = 4, 6, 2, 0.3


def views(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + rank)                 # the ranks hold different data
    return torch.randn(B, D, generator=g), torch.randn(B, D, generator=g)


def _rank(rank: int, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    z1, z2 = (v.requires_grad_() for v in views(rank))
    loss, _ = info_nce(gather(z1), gather(z2), TAU)
    loss.backward()
    assert z1.grad is not None and z2.grad is not None
    torch.save({"loss": loss.detach(), "g1": z1.grad, "g2": z2.grad}, f"{out}/rank{rank}.pt")
    dist.barrier()                                   # nobody tears gloo down while a peer still talks
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_gathered_infonce_gradient_equals_the_single_process_one(tmp_path: Path) -> None:
    mp.spawn(_rank, args=(f"tcp://127.0.0.1:{free_port()}", str(tmp_path)), nprocs=WORLD, join=True)
    z1, z2 = (torch.cat(parts).requires_grad_() for parts in zip(*(views(r) for r in range(WORLD)), strict=True))
    loss, _ = info_nce(z1, z2, TAU)
    loss.backward()
    assert z1.grad is not None and z2.grad is not None
    for r in range(WORLD):
        got = torch.load(tmp_path / f"rank{r}.pt")
        assert torch.allclose(got["loss"], loss.detach(), atol=1e-6)
        # each rank's all_gather backward sums every rank's identical loss: WORLD times the gradient,
        # which DDP's averaging over ranks divides back out
        assert torch.allclose(got["g1"] / WORLD, z1.grad[r * B:(r + 1) * B], atol=1e-6)
        assert torch.allclose(got["g2"] / WORLD, z2.grad[r * B:(r + 1) * B], atol=1e-6)


def test_two_processes_show_as_one_run(runs: Path) -> None:
    proc = sslterm("run", *tiny_sets("train.steps=8"), "--nproc", "2", runs=runs, timeout=240)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(sslterm("show", "experiment", "--json", runs=runs).stdout)
    assert rec["status"] == "finished" and rec["step"] == 8
    status = json.loads((Path(rec["path"]) / "status.json").read_text())
    assert status["world"] == 2
    steps = [r["step"] for r in map(json.loads, (Path(rec["path"]) / "metrics.jsonl").read_text().splitlines())]
    assert steps == sorted(set(steps)), "only rank 0 writes metrics"
    assert (Path(rec["path"]) / "heartbeat.rank1").is_file(), "every rank beats"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_dying_rank_fails_the_run_and_is_named(runs: Path) -> None:
    sets = tiny_sets("train.steps=100000", "train.log_every=1")
    run_id = sslterm("run", *sets, "--nproc", "2", "-d", runs=runs).stdout.strip()
    beat = runs / run_id / "heartbeat.rank1"
    deadline = time.time() + 120
    while not beat.exists() or json.loads(sslterm("show", run_id, "--json", runs=runs).stdout)["step"] < 2:
        assert time.time() < deadline
        time.sleep(0.3)
    os.kill(int(beat.read_text().split()[1]), signal.SIGKILL)
    while (rec := json.loads(sslterm("show", run_id, "--json", runs=runs).stdout))["status"] in ("running", "starting"):
        assert time.time() < deadline + 60, rec
        time.sleep(0.5)
    assert rec["status"] == "failed" and "rank 1" in rec["error"], rec
