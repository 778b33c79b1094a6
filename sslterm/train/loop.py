"""The training loop: a batch from the device (or streamed to it), the objective's loss, one optimiser step.

The step never waits for the host: its scalars are summed into device tensors and read back in
one transfer (a sync point) only every ``log_every`` steps; ``tests/test_sync_free.py`` runs the
steps between two records under CUDA's sync debug mode. Similarity snapshots, evaluations and
checkpoints happen between steps, at their own intervals (the ``is_*_step`` functions), written by
:class:`sslterm.train.recorder.Recorder`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from sslterm import rules
from sslterm.augment import Pipeline
from sslterm.autoscan import settle_run
from sslterm.config import Experiment, TrainConfig
from sslterm.data import Batch, Dataset, build_dataset
from sslterm.data.stream import (
    Batches,
    DeviceBatches,
    EpochSampler,
    Sampler,
    Shard,
    StepSampler,
    StreamBatches,
    keep_on_device,
    steps_per_epoch,
)
from sslterm.models import build_encoder
from sslterm.objectives import Context, Objective, build_objective
from sslterm.store import Run
from sslterm.store.jsonl import truncate_after
from sslterm.store.runs import CONFIG
from sslterm.train.accel import autocast, channels_last, compile_networks, make_optimizer
from sslterm.train.checkpoint import load_checkpoint
from sslterm.train.modes import mode
from sslterm.train.monitor import Monitor
from sslterm.train.recorder import Diverged, Recorder, Window, restore_state
from sslterm.utils.device import pick_device
from sslterm.utils.dist import Dist, any_true, parallel, setup
from sslterm.utils.schedule import lr_at

__all__ = ["Diverged", "Outcome", "Parts", "Window", "begin", "build", "epoch_steps", "is_checkpoint_step",
           "is_eval_step", "is_log_step", "is_snapshot_step", "is_stop_check_step", "open_batches", "train",
           "train_step", "warn_batch_size", "with_epoch_steps"]


@dataclass
class Outcome:
    """How training ended: the last completed step and whether it was asked to stop early."""

    step: int
    stopped: bool


def is_log_step(step: int, cfg: TrainConfig) -> bool:
    """Whether ``step`` writes a metrics record (besides evaluation steps, which always do)."""
    return step % cfg.log_every == 0 or step == cfg.steps


def is_eval_step(step: int, exp: Experiment) -> bool:
    """Whether the monitor evaluates after ``step``."""
    return exp.eval.every > 0 and (step % exp.eval.every == 0 or step == exp.train.steps)


def is_snapshot_step(step: int, cfg: TrainConfig) -> bool:
    """Whether a similarity snapshot is taken after ``step``."""
    return step % cfg.snapshot_every == 0 or step == cfg.steps


def is_checkpoint_step(step: int, cfg: TrainConfig) -> bool:
    """Whether a checkpoint is written after ``step`` (the last step is checkpointed when training ends)."""
    return step % cfg.checkpoint_every == 0


def is_stop_check_step(step: int, cfg: TrainConfig, world: int) -> bool:
    """Whether to ask for a stop after ``step``: every step alone; at log steps with several processes
    (the answer is a collective)."""
    return world == 1 or step % cfg.log_every == 0


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
    sampler: Sampler
    if exp.train.epochs:                                       # every example once per epoch, across the ranks
        n = parts.data.epoch_size()
        shard = Shard(n, step=parts.data.window or 1)               # a text's epoch: its non-overlapping windows
        sampler = EpochSampler(n, exp.train.batch_size, exp.seed, parts.dist.rank, parts.dist.world, home)
    else:
        shard = Shard(len(parts.data), parts.dist.rank, parts.dist.world)      # this rank's examples
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


def warn_batch_size(exp: Experiment, parts: Parts) -> str | None:
    """A warning when each process's batch is larger than its share of the training split, else None."""
    share = len(parts.data) // parts.dist.world
    if exp.train.batch_size <= share:
        return None
    return (f"warning: train.batch_size = {exp.train.batch_size} is larger than the training split "
            f"({share} examples per process): every batch repeats examples; lower train.batch_size "
            f"or raise data.num_samples")


def begin(exp: Experiment, run: Run, parts: Parts, resume: bool) -> tuple[int, Recorder]:
    """The first step to train and the recorder: from the run's last checkpoint when ``resume``.

    A resumed run's logs are cut back to the checkpoint's step (the steps after it are logged again);
    a run resumed without a checkpoint (it failed before its first) starts again from step 0 with
    empty logs.
    """
    window = Window(parts.device)
    start, elapsed, saved = 0, 0.0, None
    ckpt_path = run.checkpoint_path
    if resume and ckpt_path.exists():
        start, elapsed = restore_state(parts, load_checkpoint(ckpt_path, parts.device), window, exp.train)
        saved = start
        print(f"resumed from the checkpoint at step {start}", flush=True)
    elif resume:
        print("no checkpoint yet: starting again from step 0", flush=True)
    if resume and parts.dist.main:
        truncate_after(run.metrics_path, start if saved is not None else -1)
        truncate_after(run.snapshots_path, start if saved is not None else -1)
    return start, Recorder(exp, run, parts, window, elapsed, saved)


def epoch_steps(exp: Experiment, n: int, world: int) -> float:
    """Steps of one pass over ``n`` training examples: whole steps with ``train.epochs`` (the epoch sampler's),
    else n / (batch × processes), so that step / epoch_steps is the (fractional) epoch."""
    if exp.train.epochs:
        return float(steps_per_epoch(n, exp.train.batch_size, world))
    return n / (exp.train.batch_size * world)


def with_epoch_steps(exp: Experiment, n: int, world: int) -> Experiment:
    """``exp`` with ``train.steps`` = epochs × steps per epoch when ``train.epochs`` is set; else ``exp``."""
    if not exp.train.epochs:
        return exp
    steps = exp.train.epochs * steps_per_epoch(n, exp.train.batch_size, world)
    return dataclasses.replace(exp, train=dataclasses.replace(exp.train, steps=steps))


def train(exp: Experiment, run: Run, should_stop: Callable[[], bool], on_progress: Callable[[int, str], None],
          resume: bool = False, on_warning: Callable[[str], None] | None = None,
          on_steps: Callable[[int, float], None] | None = None) -> Outcome:
    """Train ``exp`` into ``run`` (from its last checkpoint if ``resume``); metrics, snapshots, checkpoints.

    ``on_warning`` receives each warning (also printed to the worker's log), such as a batch larger
    than the training split. ``on_steps`` receives, once the data is loaded, the number of steps (which
    ``train.epochs`` sets) and the steps of one epoch (:func:`epoch_steps`).
    """
    exp = settle_run(exp, run.path / CONFIG, write=os.environ.get("RANK", "0") == "0")   # auto settings
    parts = build(exp, cache=run.path.parent / ".cache" / "datasets")
    exp = with_epoch_steps(exp, parts.data.epoch_size(), parts.dist.world)
    cfg = exp.train
    if cfg.epochs:
        print(f"{cfg.epochs} epoch(s) of {cfg.steps // cfg.epochs} steps: {cfg.steps} steps", flush=True)
    if on_steps is not None:
        on_steps(cfg.steps, epoch_steps(exp, parts.data.epoch_size(), parts.dist.world))
    skipped = rules.skipped_augmentations(exp.objective.name, exp.augment)     # said, not silently dropped
    said = [w for w in (warn_batch_size(exp, parts), skipped) if w is not None]
    for text in said:
        print(text if text.startswith("warning: ") else f"warning: {text}", flush=True)
    if said and on_warning is not None:
        on_warning("; ".join(said))
    device, main = str(parts.device), parts.dist.main
    step_fn = parallel(parts.objective, parts.device, cfg.sync_batchnorm)   # DDP (and SyncBatchNorm) when several
    start, rec = begin(exp, run, parts, resume)
    if start == 0:
        rec.snapshot(0)
    on_progress(start, device)
    batches = open_batches(parts, exp, start + 1)
    step, stopped = start, False
    try:
        with mode(parts.objective, True):
            for step in range(start + 1, cfg.steps + 1):
                rec.window.add(*train_step(parts, batches, step_fn, step, cfg))
                evaluate = is_eval_step(step, exp)
                if is_log_step(step, cfg) or evaluate:
                    rec.log(step, evaluate)
                    if main:
                        on_progress(step, device)
                        warning = rec.new_warning()                  # a collapse, a loss stuck at chance
                        if warning is not None:
                            print(f"warning: {warning}", flush=True)
                            if on_warning is not None:
                                on_warning(warning)
                if is_snapshot_step(step, cfg):
                    rec.snapshot(step)
                if is_checkpoint_step(step, cfg):
                    rec.checkpoint(step)
                if is_stop_check_step(step, cfg, parts.dist.world) and any_true(should_stop(), parts.device):
                    stopped = step < cfg.steps
                    break
    finally:
        batches.close()
    if rec.saved != step:
        rec.checkpoint(step)
    if main:
        on_progress(step, device)
    rec.close()
    return Outcome(step=step, stopped=stopped)
