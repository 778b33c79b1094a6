"""What training writes between steps: the open metric window, records, snapshots, checkpoints, divergence.

Rank 0 writes; the other processes take part in the collectives and write nothing. Every value is
checked before it is written or saved: a NaN or infinity raises :class:`Diverged`, and no checkpoint
follows it. A checkpoint holds everything needed to continue exactly (:func:`checkpoint_state`,
:func:`restore_state`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from sslterm import health
from sslterm.config import Experiment, TrainConfig
from sslterm.data import Batch
from sslterm.objectives import Objective
from sslterm.store import JsonlWriter, Run
from sslterm.train.checkpoint import save_checkpoint
from sslterm.train.modes import mode
from sslterm.utils.dist import gather_states
from sslterm.utils.dist import mean as dist_mean
from sslterm.utils.schedule import lr_at

if TYPE_CHECKING:
    from sslterm.train.loop import Parts


class Diverged(FloatingPointError):
    """A value became NaN or infinite; no checkpoint is written after that, so the last one (if any) is good."""

    def __init__(self, step: int, value: float, what: str = "loss", saved: int | None = None) -> None:
        kept = (f"the last good checkpoint (step {saved}) is kept" if saved is not None
                else "no checkpoint had been written yet")
        super().__init__(f"{what} became {value} by step {step}; {kept}")
        self.step = step
        self.saved = saved


def first_non_finite(values: dict[str, float]) -> tuple[str, float] | None:
    """The first (name, value) that is NaN or infinite, or None."""
    return next(((k, v) for k, v in values.items() if not math.isfinite(v)), None)


def value_name(key: str) -> str:
    """How a divergence message names a logged value."""
    return {"loss": "loss", "features": "the encoder's held-out features"}.get(key, f"metric {key}")


@torch.no_grad()
def similarity_matrix(objective: Objective, v1: Batch, v2: Batch) -> torch.Tensor:
    """Cosine similarities between the embeddings of two views of a probe batch: [n, n]."""
    with mode(objective, False):
        z1 = F.normalize(objective.embed(v1), dim=1)
        z2 = F.normalize(objective.embed(v2), dim=1)
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


class Recorder:
    """What training writes between steps: metrics records, similarity snapshots and checkpoints.

    Rank 0 writes; the other processes take part in the collectives (the window's mean, the
    checkpoint's gathered generators) and write nothing. Every value is checked before it is
    written: a NaN or infinity anywhere raises :class:`Diverged`, and no checkpoint follows it.
    """

    def __init__(self, exp: Experiment, run: Run, parts: Parts, window: Window, elapsed: float,
                 saved: int | None) -> None:
        self.exp, self.run, self.parts, self.window = exp, run, parts, window
        main = parts.dist.main
        self.metrics: JsonlWriter | NullWriter = JsonlWriter(run.metrics_path) if main else NullWriter()
        self.snapshots: JsonlWriter | NullWriter = JsonlWriter(run.snapshots_path) if main else NullWriter()
        self.t_start = time.perf_counter() - elapsed
        self.t_window = time.perf_counter()
        self.saved = saved                                           # step of the last checkpoint, if any
        self.latest: dict[str, Any] = {}                             # every metric's newest value
        self.recent: deque[dict[str, Any]] = deque(maxlen=health.CHANCE_LOGS)
        self.warned: str | None = None

    def diverged(self, step: int, value: float, what: str) -> Diverged:
        return Diverged(step, value, what, self.saved)

    def log(self, step: int, evaluate: bool) -> None:
        """Write the window's means (the sync point) and, at evaluation steps, the monitor's measurements."""
        cfg = self.exp.train
        now, count = time.perf_counter(), self.window.count
        values = self.window.read()
        if evaluate:
            values.update({k: v.item() for k, v in self.parts.monitor.evaluate().items()})
        bad = first_non_finite(values)
        if bad is not None:
            raise self.diverged(step, bad[1], value_name(bad[0]))
        record = {"step": step, "t": round(now - self.t_start, 4), "time": time.time(), **values,
                  "lr": lr_at(step - 1, cfg),
                  "samples_per_s": count * cfg.batch_size * self.parts.dist.world / max(now - self.t_window, 1e-9)}
        self.metrics.write(record)
        self.latest.update(record)
        self.recent.append(record)
        self.window.reset()
        self.t_window = time.perf_counter()

    def new_warning(self) -> str | None:
        """The plain-words warning the metrics so far call for (:func:`health.training_warning`), once per kind."""
        text = health.training_warning(self.latest, self.recent, collapse=not self.parts.objective.targets_are_input)
        if text is None or text.split(":")[0] == self.warned:
            return None
        self.warned = text.split(":")[0]                              # 'collapsing', 'not learning'
        return text

    def snapshot(self, step: int) -> None:
        """The probe batch's similarity matrix, on rank 0."""
        if not self.parts.dist.main:
            return
        sim = similarity_matrix(self.parts.objective, *self.parts.probe_views).cpu()
        if not bool(torch.isfinite(sim).all()):
            raise self.diverged(step, float(sim[~torch.isfinite(sim)][0]), "the similarity snapshot")
        self.snapshots.write({"step": step, "time": time.time(), "kind": "similarity",
                              "values": [[round(v, 4) for v in row] for row in sim.tolist()]})

    def checkpoint(self, step: int) -> None:
        """Save everything needed to continue from ``step``, after checking that nothing has diverged."""
        sums = dist_mean(torch.stack([v.float() for v in self.window.sums.values()]))
        if not bool(torch.isfinite(sums).all()):                     # never save after a bad value
            bad = first_non_finite(dict(zip(self.window.sums, sums.tolist(), strict=True)))
            name, value = bad if bad is not None else ("loss", math.nan)
            raise self.diverged(step, value, value_name(name))
        params = [p.detach() for p in self.parts.objective.parameters() if p.is_floating_point()]
        if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            raise self.diverged(step, math.nan, "the weights")
        state = checkpoint_state(self.parts, step, self.window, time.perf_counter() - self.t_start)
        if self.parts.dist.main:
            save_checkpoint(self.run.checkpoint_dir, state)
            self.metrics.sync()
            self.snapshots.sync()
        self.saved = step

    def close(self) -> None:
        self.metrics.close()
        self.snapshots.close()


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


def restore_state(parts: Parts, ckpt: dict[str, Any], window: Window, cfg: TrainConfig) -> tuple[int, float]:
    """Load a checkpoint into ``parts`` and the open ``window``; returns (step, elapsed seconds).

    Schedules that are a function of the step (an EMA teacher's momentum) are set to the checkpoint's step.
    """
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
    step = int(ckpt["step"])
    parts.objective.resume_at(step, cfg.steps)
    return step, float(ckpt.get("elapsed", 0.0))
