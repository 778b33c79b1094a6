"""Trainer overhead: sslterm's worker loop against a hand-written PyTorch loop; resident against streamed data.

Both sides train the same encoder, objective, batch, optimiser (AdamW, fused where torch has one) and
learning-rate schedule on the same device-resident data. sslterm's side is the real
``sslterm.train.loop.train`` with metrics, similarity snapshots, checkpoints and evaluation (kNN,
online probe, diagnostics, held-out loss) at TrainConfig's and EvalConfig's default intervals (the
experiment file's own, more frequent intervals are replaced by the defaults); the plain side is the
loop a researcher writes by hand, without any of that. Each side is timed over the same steps, from
the first step to the end of the last, set-up excluded: sslterm's from its progress report before
step 1 to the one after its final step's record, snapshot and checkpoint. With the default 500 steps
every interval fits a whole number of times. Runs are interleaved (plain, sslterm, ... per repeat)
and medians over the repeats are reported, as a ratio of medians and as the median of each repeat's
ratio to the plain loop timed just before it (``paired_ratio``: steadier where the machine's speed
drifts, as shared cloud CPUs do). Usage: python -m benchmarks.trainer [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import median, write
from sslterm import config
from sslterm.augment import Pipeline
from sslterm.data import Batch, build_dataset
from sslterm.models import build_encoder
from sslterm.objectives import Context, build_objective
from sslterm.store import create_run
from sslterm.train.accel import make_optimizer
from sslterm.train.loop import train
from sslterm.utils.device import pick_device
from sslterm.utils.schedule import lr_at

EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "image-simclr.toml"
DEFAULT_INTERVALS = ("train.log_every=10", "train.snapshot_every=50", "train.checkpoint_every=500", "eval.every=100")


def plain_loop(exp: config.Experiment, steps: int, augment: bool = True, warmup: int = 0) -> float:
    """Seconds per step of a hand-written loop: same data, model, objective, optimiser and schedule
    (timed after ``warmup`` untimed steps)."""
    device = pick_device(exp.train.device)
    if exp.train.threads:
        torch.set_num_threads(exp.train.threads)
    torch.manual_seed(exp.seed)
    data = build_dataset(exp.data.dataset, exp.data.options).to(device)
    encoder = build_encoder(exp.model.encoder, data.info, exp.model.options)
    ctx = Context(encoder, data.info, exp.model.projector_hidden, exp.model.projector_dim)
    objective = build_objective(exp.objective.name, ctx, exp.objective.options).to(device)
    opt = make_optimizer(objective.trainable(), exp.train, device)
    gen = torch.Generator(device=device).manual_seed(exp.seed + 1)

    def identity(batch: Batch, gen: torch.Generator) -> Batch:
        return batch

    aug = Pipeline(exp.augment) if augment else identity
    objective.train()
    t0 = time.perf_counter()
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, exp.train)
        idx = torch.randint(len(data), (exp.train.batch_size,), generator=gen, device=device)
        loss, _ = objective(data.batch("train", idx), aug, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def sslterm_loop(exp: config.Experiment, root: Path) -> float:
    """Seconds per step of sslterm's loop, from before step 1 to after the last step's bookkeeping."""
    marks: list[float] = []
    run = create_run(root, "bench")
    train(exp, run, lambda: False, lambda step, device: marks.append(time.perf_counter()))
    return (marks[-1] - marks[0]) / exp.train.steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    base = [*DEFAULT_INTERVALS, f"train.steps={args.steps}", f"train.device={args.device}"]
    exp = config.load(EXPERIMENT, base)
    variants = {
        "eval": exp,
        "bare": config.load(EXPERIMENT, [*base, "eval.every=0", "eval.online_probe=false"]),
        "streamed": config.load(EXPERIMENT, [*base, "data.on_device=false"]),
    }
    times: dict[str, list[float]] = {k: [] for k in ("plain", *variants, "no_aug")}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            times["plain"].append(plain_loop(exp, args.steps))
            for name, variant in variants.items():
                times[name].append(sslterm_loop(variant, Path(tmp)))
            times["no_aug"].append(plain_loop(exp, args.steps, augment=False))
    m = {k: median(v) for k, v in times.items()}
    # each repeat's ratio to the plain loop timed just before it: robust to a machine whose speed drifts
    paired = {k: median([t / p for t, p in zip(v, times["plain"], strict=True)]) for k, v in times.items()}
    b, p = exp.train.batch_size, m["plain"]
    labels = {
        "plain": "plain PyTorch loop",
        "eval": "sslterm worker (metrics, snapshots, checkpoints, evaluation at default intervals)",
        "bare": "sslterm worker, evaluation and online probe off",
        "streamed": f"sslterm worker, data streamed (data.on_device = false, {exp.data.workers} workers)",
        "no_aug": "plain PyTorch loop without augmentation",
    }
    rows = [{"loop": labels[k], "ms_per_step": 1e3 * m[k], "samples_per_s": b / m[k], "ratio": m[k] / p,
             "paired_ratio": paired[k]} for k in labels]
    write("trainer", rows, {
        "experiment": EXPERIMENT.name, "intervals": list(DEFAULT_INTERVALS), "steps": args.steps,
        "repeats": args.repeats, "seconds_per_step": times, "overhead_ratio": m["eval"] / p,
        "overhead_ratio_without_evaluation": m["bare"] / p, "streamed_ratio": m["streamed"] / p,
        "paired_overhead_ratio": paired["eval"], "paired_overhead_ratio_without_evaluation": paired["bare"],
        "augmentation_share_of_step": max(0.0, (p - m["no_aug"]) / p), "target_overhead_ratio": 1.03,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
    })


if __name__ == "__main__":
    main()
