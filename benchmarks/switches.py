"""Speed switches, each off and on: bf16 autocast, channels-last weights, torch.compile, fused AdamW.

Every measurement runs sslterm's own training step (``sslterm.train.loop.train_step``) on SimCLR
with the CNN encoder, after untimed warm-up steps (which include compilation when compile is on:
reported apart as ``warmup_s``). Off and on alternate within each repeat; medians over repeats. On
the CPU, bf16 means autocast on the CPU (fast only where the CPU has bf16 instructions); CUDA figures
need a GPU: run this with ``--device cuda`` there. Usage: python -m benchmarks.switches [--steps N]
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import median, write
from benchmarks.trainer import EXPERIMENT
from sslterm import config
from sslterm.train.accel import fused_available, make_optimizer
from sslterm.train.loop import build, open_batches, train_step
from sslterm.utils.device import pick_device

SWITCHES = {
    "precision": (("train.precision=fp32",), ("train.precision=bf16",)),
    "channels_last": (("train.channels_last=false",), ("train.channels_last=true",)),
    "compile": (("train.compile=false",), ("train.compile=true",)),
    "fused_adamw": ((), ()),                       # the optimiser is swapped below: it has no config key
}


def measure(exp: config.Experiment, steps: int, warmup: int, fused: bool | None = None) -> tuple[float, float]:
    """(seconds per step over ``steps`` timed steps, seconds of the ``warmup`` steps before them)."""
    parts = build(exp)
    if fused is not None:
        parts.optimizer = make_optimizer(parts.objective.trainable(), exp.train, parts.device, fused=fused)
    batches = open_batches(parts, exp, 1)
    sync = torch.cuda.synchronize if parts.device.type == "cuda" else (lambda: None)
    try:
        t0 = time.perf_counter()
        for step in range(1, warmup + steps + 1):
            if step == warmup + 1:
                sync()
                t1 = time.perf_counter()
            train_step(parts, batches, parts.objective, step, exp.train)
        sync()
        return (time.perf_counter() - t1) / steps, t1 - t0
    finally:
        batches.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--only", default=",".join(SWITCHES), help="comma-separated switches to measure")
    args = ap.parse_args()
    base = [f"train.steps={args.warmup + args.steps}", f"train.device={args.device}", "eval.every=0"]
    chosen = [s for s in args.only.split(",") if s]
    times: dict[str, dict[str, list[float]]] = {s: {"off": [], "on": [], "warmup_off": [], "warmup_on": []}
                                                for s in chosen}
    for repeat in range(args.repeats):
        for name in chosen:
            off, on = SWITCHES[name]
            for state, sets in (("off", off), ("on", on)):
                if name == "compile" and state == "on" and repeat:     # compiling once shows its cost
                    continue
                exp = config.load(EXPERIMENT, [*base, *sets])
                fused = (state == "on") if name == "fused_adamw" else None
                per_step, warm = measure(exp, args.steps, args.warmup + (2 if name == "compile" else 0), fused)
                times[name][state].append(per_step)
                times[name][f"warmup_{state}"].append(warm)
    device = pick_device(args.device)
    rows = []
    for name in chosen:
        t = times[name]
        off_s, on_s = median(t["off"]), median(t["on"])
        rows.append({"switch": name, "off_ms_per_step": 1e3 * off_s, "on_ms_per_step": 1e3 * on_s,
                     "speedup": off_s / on_s,
                     "warmup_on_s": median(t["warmup_on"])})
    write("switches", rows, {
        "experiment": EXPERIMENT.name, "device": str(device), "steps": args.steps, "warmup": args.warmup,
        "repeats": args.repeats, "seconds": times, "fused_adamw_available": fused_available(device),
        "note": "CPU figures; bf16, channels_last and fused AdamW are chiefly CUDA features: "
                "run `python -m benchmarks.switches --device cuda` on a GPU for those",
    })


if __name__ == "__main__":
    main()
