"""The training loop: a batch from the device (or streamed to it), the objective's loss, one optimiser step.

The step never waits for the host: its scalars are summed into device tensors and read back in
one transfer (a sync point) only every ``log_every`` steps; ``tests/test_sync_free.py`` runs the
steps between two records under CUDA's sync debug mode. Similarity snapshots, evaluations and
checkpoints happen between steps, at their own intervals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sslterm.augment import Pipeline
from sslterm.config import Experiment, TrainConfig
from sslterm.data import Batch, Dataset, build_dataset
from sslterm.data.stream import Batches, DeviceBatches, StepSampler, StreamBatches, keep_on_device
from sslterm.models import build_encoder
from sslterm.objectives import Context, Objective, build_objective
from sslterm.store import JsonlWriter, Run
from sslterm.store.jsonl import truncate_after
from sslterm.train.accel import autocast, channels_last, compile_networks, make_optimizer
from sslterm.train.checkpoint import load_checkpoint, save_checkpoint
from sslterm.train.monitor import Monitor
from sslterm.utils.device import pick_device
from sslterm.utils.dist import Dist, any_true, gather_states, parallel, setup
from sslterm.utils.dist import mean as dist_mean
from sslterm.utils.schedule import lr_at


@dataclass
class Outcome:
    """How training ended: the last completed step and whether it was asked to stop early."""

    step: int
    stopped: bool


class Diverged(FloatingPointError):
    """The loss became NaN or infinite; the last checkpoint (taken before) is kept."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"loss became {value} by step {step}; the last good checkpoint is kept")
        self.step = step


@torch.no_grad()
def similarity_matrix(objective: Objective, v1: Batch, v2: Batch) -> torch.Tensor:
    """Cosine similarities between the embeddings of two views of a probe batch: [n, n]."""
    was_training = objective.training
    objective.eval()
    z1 = F.normalize(objective.embed(v1), dim=1)
    z2 = F.normalize(objective.embed(v2), dim=1)
    objective.train(was_training)
    return z1 @ z2.T


class NullWriter:
    """Stands in for a log writer on processes other than rank 0, which write nothing."""

    def write(self, record: dict[str, Any]) -> None:
        """Drop the record."""

    def sync(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Nothing to close."""


class Window:
    """The steps' scalars (loss and the objective's metrics) summed on the device since the last record."""

    def __init__(self, device: torch.device) -> None:
        self.sums: dict[str, torch.Tensor] = {"loss": torch.zeros((), device=device)}
        self.count = 0

    def add(self, loss: torch.Tensor, extra: dict[str, torch.Tensor]) -> None:
        """Add one step's scalars, in place on the device."""
        for k, v in (("loss", loss), *extra.items()):
            if k in self.sums:
                self.sums[k].add_(v.detach())
            else:
                self.sums[k] = v.detach().float().clone()
        self.count += 1

    def read(self) -> dict[str, float]:
        """Each scalar's mean over the window and the processes, in one transfer: a sync point."""
        keys = list(self.sums)
        means = dist_mean(torch.stack([self.sums[k].float() for k in keys])) / max(self.count, 1)
        return dict(zip(keys, means.tolist(), strict=True))

    def reset(self) -> None:
        """Start a new window."""
        for v in self.sums.values():
            v.zero_()
        self.count = 0


@dataclass
class Parts:
    """Everything a run trains with, built from its experiment."""

    dist: Dist
    device: torch.device
    data: Dataset
    on_device: bool
    objective: Objective
    optimizer: torch.optim.Optimizer
    augment: Pipeline
    gen: torch.Generator
    monitor: Monitor
    probe_views: tuple[Batch, Batch]


def build(exp: Experiment, cache: Path | None = None) -> Parts:
    """Data on the device, encoder and objective, optimiser, augmentations and monitor for ``exp``.

    ``cache``: a directory where generated datasets are kept for later runs.
    """
    cfg = exp.train
    pick_device(cfg.device)                                        # refuses cuda without CUDA
    info, device = setup(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(exp.seed)                                    # the same initial weights on every rank
    print(f"device: {device}; rank {info.rank} of {info.world}; building dataset {exp.data.dataset!r}", flush=True)
    host = build_dataset(exp.data.dataset, exp.data.options, cache)
    on_device = keep_on_device(exp.data.on_device, host, device)
    data = host.to(device) if on_device else host.to(device, train=False,
                                                     eval_rows=max(exp.eval.max_examples, exp.eval.probe_batch))
    encoder = build_encoder(exp.model.encoder, data.info, exp.model.options)
    ctx = Context(encoder, data.info, exp.model.projector_hidden, exp.model.projector_dim)
    objective = build_objective(exp.objective.name, ctx, exp.objective.options).to(device)
    if cfg.channels_last and device.type == "cuda":
        channels_last(objective)
    elif cfg.channels_last:   # torch 2.13's CPU backward of strided 1x1 convolutions corrupts memory in this layout
        print("train.channels_last: ignored on the CPU (a CUDA layout; torch's CPU kernels fail with it)", flush=True)
    optimizer = make_optimizer(objective.trainable(), cfg, device)
    augment = Pipeline(exp.augment)
    gen = torch.Generator(device=device).manual_seed(exp.seed + 1 + 1000 * info.rank)   # views differ per rank
    n_params = sum(p.numel() for p in encoder.parameters())
    where = f"on {device}" if on_device else f"streamed to {device} by {exp.data.workers} DataLoader workers"
    print(f"model: {exp.model.encoder} encoder, {n_params / 1e6:.2f}M parameters; "
          f"objective {exp.objective.name}; {len(data)} training examples {where}", flush=True)
    # a fixed probe batch with fixed views: its similarity matrix is comparable across snapshots
    probe = data.batch("eval", torch.arange(min(exp.eval.probe_batch, data.size("eval")), device=device))
    probe_gen = torch.Generator(device=device).manual_seed(exp.seed + 2)
    views = (augment(probe, probe_gen), augment(probe, probe_gen))
    monitor = Monitor(exp, data, objective, augment, device, info.main)
    if cfg.compile:
        print(f"compiling {', '.join(compile_networks(objective))} (the first steps are slow)", flush=True)
    print(monitor.describe(), flush=True)
    return Parts(info, device, data, on_device, objective, optimizer, augment, gen, monitor, views)


def open_batches(parts: Parts, exp: Experiment, first: int) -> Batches:
    """The batches of steps ``first``.. ``train.steps``: gathered on the device, or streamed to it."""
    home = parts.device if parts.on_device else torch.device("cpu")
    shard = torch.arange(parts.dist.rank, len(parts.data), parts.dist.world, device=home)   # this rank's examples
    sampler = StepSampler(len(shard), exp.train.batch_size, exp.seed, parts.dist.rank, home)
    if parts.on_device:
        return DeviceBatches(parts.data, shard, sampler, parts.monitor.learns)
    return StreamBatches(parts.data, shard, sampler, parts.monitor.learns, parts.device, first, exp.train.steps,
                         exp.data.workers)


def train_step(parts: Parts, batches: Batches, step_fn: torch.nn.Module, step: int,
               cfg: TrainConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimiser step (1-based ``step``); nothing in it reads a device value on the host."""
    lr = lr_at(step - 1, cfg)
    for group in parts.optimizer.param_groups:
        group["lr"] = lr
    batch, y = batches.get(step)
    with autocast(cfg.precision, parts.device):
        loss, extra = step_fn(batch, parts.augment, parts.gen)
    parts.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parts.optimizer.step()
    parts.objective.after_step(step, cfg.steps)
    parts.monitor.probe_step(batch, y, step)
    return loss, extra


def train(exp: Experiment, run: Run, should_stop: Callable[[], bool], on_progress: Callable[[int, str], None],
          resume: bool = False) -> Outcome:
    """Train ``exp`` into ``run`` (from its last checkpoint if ``resume``); metrics, snapshots, checkpoints."""
    cfg = exp.train
    parts = build(exp, cache=run.path.parent / ".cache" / "datasets")
    device, objective = parts.device, parts.objective
    world, main = parts.dist.world, parts.dist.main
    step_fn = parallel(objective, device, cfg.sync_batchnorm)        # DDP (and SyncBatchNorm) with several processes
    window = Window(device)
    start, t_offset = 0, 0.0
    if resume:
        ckpt = load_checkpoint(run.checkpoint_dir / "last.pt", device)
        start, t_offset = restore_state(parts, ckpt, window)
        if main:
            truncate_after(run.metrics_path, start)
            truncate_after(run.snapshots_path, start)
        print(f"resumed from the checkpoint at step {start}", flush=True)
    metrics: JsonlWriter | NullWriter = JsonlWriter(run.metrics_path) if main else NullWriter()
    snapshots: JsonlWriter | NullWriter = JsonlWriter(run.snapshots_path) if main else NullWriter()
    t_start = time.perf_counter() - t_offset

    def snapshot(step: int) -> None:
        if not main:
            return
        sim = similarity_matrix(objective, *parts.probe_views).cpu()
        snapshots.write({"step": step, "time": time.time(), "kind": "similarity",
                         "values": [[round(v, 4) for v in row] for row in sim.tolist()]})

    def checkpoint(step: int) -> None:
        loss_sum = dist_mean(window.sums["loss"])
        if not torch.isfinite(loss_sum).item():                      # never save diverged weights
            raise Diverged(step, loss_sum.item())
        state = checkpoint_state(parts, step, window, time.perf_counter() - t_start)
        if main:
            save_checkpoint(run.checkpoint_dir, state)
            metrics.sync()
            snapshots.sync()

    if start == 0:
        snapshot(0)
    on_progress(start, str(device))
    batches = open_batches(parts, exp, start + 1)
    step, stopped, t_window = start, False, time.perf_counter()
    objective.train()
    try:
        for step in range(start + 1, cfg.steps + 1):
            window.add(*train_step(parts, batches, step_fn, step, cfg))
            evaluate = exp.eval.every > 0 and (step % exp.eval.every == 0 or step == cfg.steps)
            if step % cfg.log_every == 0 or step == cfg.steps or evaluate:
                now, count = time.perf_counter(), window.count
                values = window.read()                                # the sync point
                if not math.isfinite(values["loss"]):
                    raise Diverged(step, values["loss"])
                if evaluate:
                    values.update({k: v.item() for k, v in parts.monitor.evaluate().items()})
                metrics.write({"step": step, "t": round(now - t_start, 4), "time": time.time(), **values,
                               "lr": lr_at(step - 1, cfg),
                               "samples_per_s": count * cfg.batch_size * world / max(now - t_window, 1e-9)})
                window.reset()
                t_window = time.perf_counter()
                if main:
                    on_progress(step, str(device))
            if step % cfg.snapshot_every == 0 or step == cfg.steps:
                snapshot(step)
            if step % cfg.checkpoint_every == 0:
                checkpoint(step)
            # alone: ask every step; with several processes, agree at log steps (a collective)
            if (world == 1 or step % cfg.log_every == 0) and any_true(should_stop(), device):
                stopped = step < cfg.steps
                break
    finally:
        batches.close()
    if step % cfg.checkpoint_every or step == start:
        checkpoint(step)
    if main:
        on_progress(step, str(device))
    metrics.close()
    snapshots.close()
    return Outcome(step=step, stopped=stopped)


def checkpoint_state(parts: Parts, step: int, window: Window, elapsed: float) -> dict[str, Any]:
    """Everything needed to continue exactly: weights, optimiser, RNG states, monitor, the open metric window.

    With several processes this is a collective (every rank's view generator is gathered; the open
    window's sums are averaged over processes, so any number of processes can continue it). Which
    examples a step draws depends on (seed, rank, step) alone, so no sampler state is saved.
    """
    generators = gather_states(parts.gen.get_state())
    state: dict[str, Any] = {
        "step": step, "model": parts.objective.state_dict(), "optimizer": parts.optimizer.state_dict(),
        "generator": generators[0], "generators": generators, "world": parts.dist.world,
        "torch_rng": torch.get_rng_state(),
        "window": {"count": window.count, "sums": {k: dist_mean(v).detach().clone() for k, v in window.sums.items()}},
        "elapsed": elapsed,
        **parts.monitor.state(),
    }
    if parts.device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(parts.device)
    return state


def restore_state(parts: Parts, ckpt: dict[str, Any], window: Window) -> tuple[int, float]:
    """Load a checkpoint into ``parts`` and the open ``window``; returns (step, elapsed seconds)."""
    parts.objective.load_state_dict(ckpt["model"])
    parts.optimizer.load_state_dict(ckpt["optimizer"])
    generators = ckpt.get("generators", [ckpt["generator"]])
    if ckpt.get("world", 1) == parts.dist.world and parts.dist.rank < len(generators):
        parts.gen.set_state(generators[parts.dist.rank].cpu())
    else:                                                            # another number of processes
        parts.gen.manual_seed(int(ckpt["step"]) * 7919 + parts.dist.rank)
    torch.set_rng_state(ckpt["torch_rng"].cpu())
    if "cuda_rng" in ckpt and parts.device.type == "cuda":
        torch.cuda.set_rng_state(ckpt["cuda_rng"].cpu(), parts.device)
    parts.monitor.load(ckpt)
    saved = ckpt.get("window", {"count": 0, "sums": {}})
    window.sums.update({k: v.to(parts.device) for k, v in saved["sums"].items()})
    window.count = int(saved["count"])
    return int(ckpt["step"]), float(ckpt.get("elapsed", 0.0))
