"""Transfer quality: what each shipped experiment's pretraining buys on its labelled built-in dataset.

Every experiment in experiments/ is trained as shipped (or for --steps), in this process, and its
frozen encoder is then measured on the held-out split: the linear probe on the raw inputs and on
the untrained encoder's features (what the architecture alone gives), the linear probe and kNN on
the SSL features, and the supervised baseline (the same encoder trained
from scratch with cross-entropy on all training labels, the experiment's own steps, batch and
learning-rate schedule, no augmentation). Reconstruction objectives (masked, inpainting, next_token),
whose linear probes are known to be weak, are also fine-tuned end to end on 10% of the labels from
the SSL weights and from the untrained weights. Each row says whether it passes: the SSL probe beats
both the raw-input and the untrained-encoder probes by at least 0.05 or, for reconstruction, the
SSL-initialised fine-tune beats the randomly initialised one by at least 0.05. Runs on one
torch thread at nice 10 so others sharing the machine are not starved: wall times are an upper
bound. Usage: python -m benchmarks.quality [--only image,audio] [--objectives infonce,byol] [--steps N]
[--keep-others]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, write
from sslterm import config
from sslterm.evaluate.transfer import evaluate_run, finetune, restore, untrained_encoder
from sslterm.launch import prepare
from sslterm.store import Run
from sslterm.train.loop import train

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
NICENESS = 10
CLEAR_MARGIN = 0.10
"""The SSL linear probe "clearly" beats the raw-input probe when it is this much more accurate."""
MUST_BEAT_RAW = ("image", "audio")
"""Modalities where the issue requires the SSL probe to clearly beat the raw-input probe."""
PASS_MARGIN = 0.05
"""A row passes when its SSL probe beats both baselines (reconstruction: its fine-tune beats random init) by this."""
RECONSTRUCTION = ("masked", "inpainting", "next_token")
"""Objectives also judged by fine-tuning on FINETUNE_FRACTION of the labels, SSL-initialised against random init."""
FINETUNE_FRACTION = 0.1
NOTES: dict[str, str] = {}
"""Why an experiment's features do not clearly beat the raw inputs, where that is what was measured."""


def experiments(only: set[str], objectives: set[str], steps: int) -> list[config.Experiment]:
    """The shipped experiments, filtered by modality and by objective (or experiment suffix), sorted by name."""
    overrides = ["train.threads=1", *([f"train.steps={steps}"] if steps else [])]
    picked = []
    for path in sorted(EXPERIMENTS.glob("*.toml")):
        exp = config.load(path, overrides)
        suffix = path.stem.split("-", 1)[-1]
        if only and exp.data.modality not in only:
            continue
        if objectives and not objectives & {exp.objective.name, suffix}:
            continue
        picked.append(exp)
    return picked


def measure(exp: config.Experiment, root: Path) -> dict[str, Any]:
    """Pretrain ``exp`` into a fresh run under ``root`` and evaluate it: one table row."""
    row: dict[str, Any] = {"experiment": exp.name, "modality": exp.data.modality, "dataset": exp.data.dataset,
                           "objective": exp.objective.name, "steps": exp.train.steps}
    run = prepare(exp, root, source="benchmarks/quality.py")
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):                # the worker's progress lines
        train(exp, run, lambda: False, lambda step, device: None)
    row["train_s"] = time.perf_counter() - started
    started = time.perf_counter()
    record = evaluate_run(run, exp.train.device, fractions=(), supervised=True, random_init=True,
                          log=lambda line: None)
    total = time.perf_counter() - started
    if "note" in record:
        return {**row, "note": record["note"]}
    raw, linear = record["raw_linear_probe"]["accuracy"], record["linear_probe"]["accuracy"]
    sup = record["supervised"]
    untrained = record["random_init_linear_probe"]["accuracy"]
    row.update(raw=raw, untrained=untrained, linear=linear,
               knn=record["knn"]["accuracy"], supervised=sup["accuracy"], gain=linear - raw,
               clear=linear - raw >= CLEAR_MARGIN, eval_s=total - sup["seconds"], supervised_s=sup["seconds"])
    row["probe_passes"] = linear - max(raw, untrained) >= PASS_MARGIN
    row["passes"] = row["probe_passes"]
    if exp.objective.name in RECONSTRUCTION:
        row.update(finetune_comparison(run))
        row["passes"] = row["probe_passes"] or row["finetune_passes"]
    if exp.name in NOTES:
        row["note"] = NOTES[exp.name]
    return row


def finetune_comparison(run: Run) -> dict[str, Any]:
    """Fine-tuning on FINETUNE_FRACTION of the labels from the run's SSL weights and from the untrained ones."""
    exp, data, objective, _ = restore(run, torch.device("cpu"))
    ssl = finetune(objective.encoder, exp, data, (FINETUNE_FRACTION,))
    scratch = finetune(untrained_encoder(exp, data, torch.device("cpu")), exp, data, (FINETUNE_FRACTION,))
    (key, rec), rand = next(iter(ssl.items())), next(iter(scratch.values()))
    return {"finetune_labels": rec["labels"], "finetune_fraction": key, "finetune": rec["accuracy"],
            "finetune_random_init": rand["accuracy"],
            "finetune_passes": rec["accuracy"] - rand["accuracy"] >= PASS_MARGIN}


def merged(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` and the saved rows of every other experiment, sorted by experiment; each row dated."""
    saved = RESULTS / "quality.json"
    today = dt.date.today().isoformat()
    fresh = {r["experiment"]: {**r, "measured": today} for r in rows}
    if saved.is_file():
        old = json.loads(saved.read_text())
        date = old.get("machine", {}).get("date", "")[:10]
        for r in old.get("rows", []):
            fresh.setdefault(r["experiment"], {**r, "measured": r.get("measured", date)})
    return [fresh[k] for k in sorted(fresh)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="Comma-separated modalities (default: all).")
    ap.add_argument("--objectives", default="", help="Comma-separated objectives or experiment suffixes (simclr).")
    ap.add_argument("--steps", type=int, default=0, help="Override every experiment's train.steps (0: as shipped).")
    ap.add_argument("--keep-others", action="store_true",
                    help="Keep the saved rows of experiments not measured now (each row keeps its own date).")
    args = ap.parse_args()
    if args.steps < 0:
        ap.error(f"--steps must be ≥ 0, got {args.steps}")
    os.nice(NICENESS)
    torch.set_num_threads(1)
    only = {m for m in args.only.split(",") if m}
    objectives = {o for o in args.objectives.split(",") if o}
    picked = experiments(only, objectives, args.steps)
    if not picked:
        ap.error("no shipped experiment matches --only/--objectives")
    load_before = os.getloadavg()
    rows, failed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for exp in picked:
            print(f"{exp.name}: {exp.train.steps} steps ...", flush=True)
            try:
                row = measure(exp, Path(tmp))
            except Exception as e:                                 # one broken experiment must not hide the rest
                failed.append(exp.name)
                row = {"experiment": exp.name, "error": f"{type(e).__name__}: {e}"}
            rows.append(row)
            print("  " + "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                   for k, v in row.items() if k not in ("experiment", "note")), flush=True)
    if args.keep_others:
        rows = merged(rows)
    required = [r for r in rows if r.get("modality") in MUST_BEAT_RAW and "clear" in r]
    write("quality", rows, {
        "threads": 1, "niceness": NICENESS, "shared_machine": True,
        "wall_times": "upper bounds: one torch thread at nice 10 on a machine shared with other work",
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "steps_override": args.steps or None, "clear_margin": CLEAR_MARGIN,
        "supervised_baseline": "the experiment's encoder from scratch, cross-entropy through a linear head on all "
                               "training labels, the experiment's steps, batch size and schedule, no augmentation",
        "must_beat_raw": list(MUST_BEAT_RAW),
        "all_required_clear": all(r["clear"] for r in required) if required else None,
        "pass_rule": f"SSL probe ≥ max(raw, untrained) + {PASS_MARGIN}; for {', '.join(RECONSTRUCTION)} also "
                     f"passing when fine-tuning on {FINETUNE_FRACTION:.0%} of the labels from the SSL weights "
                     f"beats the same from random init by {PASS_MARGIN}",
        "all_pass": all(r.get("passes", False) for r in rows),
    })
    for r in rows:
        if "passes" in r:
            print(f"{r['experiment']}: {'passes' if r['passes'] else 'FAILS'}")
    for r in rows:
        if r.get("note"):
            print(f"note {r['experiment']}: {r['note']}")
    if failed:
        print(f"failed: {', '.join(failed)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
