"""Distributed training helpers: one process is the special case of N (torchrun sets the env).

``setup`` joins the process group that ``torchrun`` describes in RANK / WORLD_SIZE / LOCAL_RANK
(NCCL on CUDA, gloo on the CPU), also when torchrun started one process alone (``--nproc-per-node=1``):
that job runs the same DDP, gather and collective code as a job of N, so one GPU checks the
distributed path. Without those variables it is a no-op and every helper below acts on the single
local process. ``gather`` is THE way losses see the global batch: it uses
``torch.distributed.nn.functional.all_gather``, whose backward sums the gradient of every
process's copy into the local slice. (The widely copied ``GatherLayer`` whose backward returns
only the local slice of the local gradient drops the cross-process terms: never use it.)

Loss scaling: every process computes the same loss on the gathered global batch, so the gather's
backward hands each process N times its share of the gradient, and DDP's averaging over the N
processes divides that back out: the averaged gradient is exactly the single-process gradient on
the concatenated batch. Per-example losses (DINO, BYOL) average over the local batch and DDP's mean
makes them the global-batch mean. ``parallel`` is where a training step gets that wrapping.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from sslterm.utils.device import pick_device


@dataclass(frozen=True)
class Dist:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes the run directory (rank 0)."""
        return self.rank == 0


def setup(device_name: str) -> tuple[Dist, torch.device]:
    """Join the process group if torchrun started us; this process's device (``pick_device``, then its local GPU)."""
    device = pick_device(device_name)                              # refuses cuda without CUDA
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1 and "RANK" not in os.environ:                 # not started by torchrun
        return Dist(), device
    info = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    cuda = device.type == "cuda"
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    return info, device


def parallel(objective: nn.Module, device: torch.device, sync_batchnorm: bool = False) -> nn.Module:
    """The module a training step calls: ``objective`` alone; in a process group (torchrun), DDP around it.

    With ``sync_batchnorm`` its batch norms become ``SyncBatchNorm`` first (statistics over the global
    batch instead of each process's share), in place: the parameters stay the same objects, so an
    optimiser built before keeps updating them. torch's SyncBatchNorm runs on CUDA only; asked for
    on the CPU (gloo), this refuses rather than train with per-process statistics unannounced.
    """
    if not active():
        return objective                   # one process: its batch norm already sees the whole batch
    if sync_batchnorm:
        if device.type != "cuda":
            raise ValueError("train.sync_batchnorm = true needs CUDA devices: torch's SyncBatchNorm has no CPU "
                             "kernels, so it cannot run with gloo on the CPU; set train.sync_batchnorm = false")
        nn.SyncBatchNorm.convert_sync_batchnorm(objective)
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)


def active() -> bool:
    """Whether this process is in a process group (torchrun started it, alone or with others)."""
    return dist.is_available() and dist.is_initialized()


def gather(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` [n, ...] from every process along dim 0, differentiably; identity alone."""
    if not active():
        return t
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():  # torch 2.13 deprecates it for a private API; it is still right
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(t.contiguous()), dim=0)


def mean(t: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over processes (not differentiable; for metrics)."""
    if not active():
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()


def any_true(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` is true on any process (a collective: every process must call it)."""
    if not active():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_states(state: torch.Tensor) -> list[torch.Tensor]:
    """Every process's copy of a CPU byte tensor (an RNG state), rank order; a list of one alone."""
    if not active():
        return [state]
    out: list[torch.Tensor | None] = [None] * dist.get_world_size()
    dist.all_gather_object(out, state)
    return [t for t in out if t is not None]


def cleanup(sync: bool = False) -> None:
    """Leave the process group; ``sync``: first wait for every process to get here (after a clean finish).

    Without the barrier a gloo process that tears its connections down while a peer is still closing
    its own can abort ("terminate called without an active exception"). After a failure no barrier is
    taken: a dead peer would never reach it.
    """
    if dist.is_available() and dist.is_initialized():
        if sync:
            dist.barrier()
        dist.destroy_process_group()
