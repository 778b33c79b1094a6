"""Trainer overhead and augmentation cost: sslterm's worker loop against a hand-written PyTorch loop.

Both sides train the same encoder, objective, batch and optimiser on the same device-resident
data. sslterm's side is the real ``sslterm.train.loop.train`` with metrics, similarity snapshots,
checkpoints and evaluation at their default intervals; the plain side is the loop a researcher
would write by hand. Runs are interleaved (plain, sslterm, plain, ...) and the median time per
step over the repeats is reported. Usage: python benchmarks/trainer.py [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import median, write
from sslterm import config
from sslterm.data import Batch
from sslterm.store import create_run
from sslterm.train.loop import build, lr_at, train

EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "image-simclr.toml"


def plain_loop(exp: config.Experiment, steps: int, augment: bool = True) -> float:
    """Seconds per step of a hand-written loop over the same parts (after a warm-up)."""
    parts = build(exp)
    obj, opt, data, gen = parts.objective, parts.optimizer, parts.data, parts.gen
    def identity(batch: Batch, gen: torch.Generator) -> Batch:
        return batch

    aug = parts.augment if augment else identity
    warm = 5
    for step in range(steps + warm):
        if step == warm:
            if parts.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, exp.train)
        idx = torch.randint(len(data), (exp.train.batch_size,), generator=gen, device=parts.device)
        loss, _ = obj(data.batch("train", idx), aug, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if parts.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def sslterm_loop(exp: config.Experiment, steps: int, root: Path) -> float:
    """Seconds per step of sslterm's loop, from the worker's own clock in its metrics (after warm-up)."""
    run = create_run(root, "bench")
    train(exp, run, lambda: False, lambda s, d: None)
    recs = [r for r in run.metrics() if "t" in r]
    first = next(r for r in recs if r["step"] >= 5)
    return (recs[-1]["t"] - first["t"]) / (recs[-1]["step"] - first["step"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    base = [f"train.steps={args.steps + 5}", f"train.device={args.device}", "train.warmup_steps=5"]
    exp = config.load(EXPERIMENT, base)
    no_eval = config.load(EXPERIMENT, [*base, "eval.every=0", "eval.online_probe=false"])
    plain, ours, bare, no_aug = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            plain.append(plain_loop(exp, args.steps))
            ours.append(sslterm_loop(exp, args.steps, Path(tmp)))
            bare.append(sslterm_loop(no_eval, args.steps, Path(tmp)))
            no_aug.append(plain_loop(exp, args.steps, augment=False))
    p, s, e, n = median(plain), median(ours), median(bare), median(no_aug)
    b = exp.train.batch_size
    rows = [
        {"loop": "plain PyTorch", "ms_per_step": 1e3 * p, "samples_per_s": b / p, "ratio": 1.0},
        {"loop": "sslterm worker (metrics, snapshots, checkpoints, eval on)", "ms_per_step": 1e3 * s,
         "samples_per_s": b / s, "ratio": s / p},
        {"loop": "sslterm worker, evaluation and online probe off", "ms_per_step": 1e3 * e, "samples_per_s": b / e,
         "ratio": e / p},
        {"loop": "plain PyTorch without augmentation", "ms_per_step": 1e3 * n, "samples_per_s": b / n,
         "ratio": n / p},
    ]
    write("trainer", rows, {"experiment": str(EXPERIMENT.name), "steps": args.steps, "repeats": args.repeats,
                            "augmentation_share_of_step": max(0.0, (p - n) / p),
                            "overhead_ratio": s / p, "overhead_ratio_without_evaluation": e / p,
                            "target_overhead_ratio": 1.03})


if __name__ == "__main__":
    main()
