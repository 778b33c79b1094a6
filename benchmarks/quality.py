"""Transfer quality: what each shipped experiment's pretraining buys on its labelled built-in dataset.

Every experiment in experiments/ is trained as shipped (or for --steps), in this process (or --jobs processes), and its
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
[--keep-others] [--jobs N] [--fill-untrained] [--probes-only]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import io
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks import compressors
from benchmarks.common import RESULTS, described, git_revision, machine, write
from sslterm import config
from sslterm.data import build_dataset
from sslterm.evaluate.transfer import (
    MAX_TRAIN,
    evaluate_run,
    finetune,
    raw_probe,
    restore,
    untrained_encoder,
    untrained_probe,
)
from sslterm.launch import prepare
from sslterm.store import Run
from sslterm.train.loop import train
from sslterm.utils import probes

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


def measure(exp: config.Experiment, root: Path, probes_only: bool = False) -> dict[str, Any]:
    """Pretrain ``exp`` into a fresh run under ``root`` and evaluate it: one table row.

    ``probes_only``: measure the probes and kNN only; the supervised baseline and the fine-tunes
    (which no probe enters) are taken from the saved row, with the date they were measured.
    """
    row: dict[str, Any] = {"experiment": exp.name, "modality": exp.data.modality, "dataset": exp.data.dataset,
                           "objective": exp.objective.name, "steps": exp.train.steps, "probe": probes.PROTOCOL}
    run = prepare(exp, root, source="benchmarks/quality.py")
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):                # the worker's progress lines
        train(exp, run, lambda: False, lambda step, device: None)
    row["train_s"] = time.perf_counter() - started
    started = time.perf_counter()
    record = evaluate_run(run, exp.train.device, fractions=(), supervised=not probes_only, random_init=True,
                          log=lambda line: None)
    total = time.perf_counter() - started
    if "note" in record:
        return {**row, "note": record["note"]}
    raw, linear = record["raw_linear_probe"]["accuracy"], record["linear_probe"]["accuracy"]
    untrained = record["random_init_linear_probe"]["accuracy"]
    row.update(raw=raw, untrained=untrained, linear=linear, knn=record["knn"]["accuracy"], gain=linear - raw,
               clear=linear - raw >= CLEAR_MARGIN, eval_s=total)
    if probes_only:
        row.update(kept_columns(exp.name))
    else:
        sup = record["supervised"]
        row.update(supervised=sup["accuracy"], eval_s=total - sup["seconds"], supervised_s=sup["seconds"])
        if exp.objective.name in RECONSTRUCTION:
            row.update(finetune_comparison(run))
    row.update(verdict(row))
    if exp.name in NOTES:
        row["note"] = NOTES[exp.name]
    return row


KEPT = ("supervised", "supervised_s", "finetune_labels", "finetune_fraction", "finetune", "finetune_random_init")
"""A saved row's columns that no probe enters, which --probes-only keeps."""


def kept_columns(name: str) -> dict[str, Any]:
    """The saved row's :data:`KEPT` columns, with ``kept_from`` naming the date they were measured."""
    saved = RESULTS / "quality.json"
    old = json.loads(saved.read_text()) if saved.is_file() else {}
    row: dict[str, Any] = next((r for r in old.get("rows", []) if r["experiment"] == name), {})
    if not row:
        return {}
    date = row.get("kept_from") or row.get("measured") or old.get("machine", {}).get("date", "")[:10]
    on = row.get("kept_measured_on") or row.get("measured_on") or described(old.get("machine", {}))
    rev = row.get("kept_revision") or row.get("revision")
    return {**{k: row[k] for k in KEPT if k in row}, "kept_from": date, "kept_measured_on": on,
            **({"kept_revision": rev} if rev else {})}


def measure_or_error(exp: config.Experiment, root: Path, probes_only: bool = False) -> dict[str, Any]:
    """:func:`measure`, or a row naming the error: one broken experiment must not hide the rest."""
    try:
        return measure(exp, root, probes_only)
    except Exception as e:
        return {"experiment": exp.name, "error": f"{type(e).__name__}: {e}"}


def one_thread() -> None:
    """A worker process's setting (the niceness is inherited): one torch thread."""
    torch.set_num_threads(1)


def show(row: dict[str, Any]) -> None:
    """Print one measured row on one line as soon as it is known."""
    print(f"{row['experiment']}:  " + "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in row.items() if k not in ("experiment", "note")), flush=True)


def finetune_comparison(run: Run) -> dict[str, Any]:
    """Fine-tuning on FINETUNE_FRACTION of the labels from the run's SSL weights and from the untrained ones."""
    exp, data, objective, _ = restore(run, torch.device("cpu"))
    ssl = finetune(objective.encoder, exp, data, (FINETUNE_FRACTION,))
    scratch = finetune(untrained_encoder(exp, data, torch.device("cpu")), exp, data, (FINETUNE_FRACTION,))
    (key, rec), rand = next(iter(ssl.items())), next(iter(scratch.values()))
    return {"finetune_labels": rec["labels"], "finetune_fraction": key, "finetune": rec["accuracy"],
            "finetune_random_init": rand["accuracy"]}


def verdict(row: dict[str, Any]) -> dict[str, bool]:
    """Whether a measured row passes: its probe against both baselines, its fine-tune against random init."""
    out = {"probe_passes": row["linear"] - max(row["raw"], row["untrained"]) >= PASS_MARGIN}
    if "finetune" in row:
        out["finetune_passes"] = row["finetune"] - row["finetune_random_init"] >= PASS_MARGIN
    out["passes"] = any(out.values())
    return out


def baselines(exp: config.Experiment) -> dict[str, float]:
    """The raw-input and untrained-encoder probes alone, as evaluate_run measures them (no training needed)."""
    data = build_dataset(exp.data.dataset, exp.data.options)
    cpu, n = torch.device("cpu"), min(len(data), MAX_TRAIN)
    return {"raw": raw_probe(exp, data, n, cpu)["accuracy"],
            "untrained": untrained_probe(exp, data, n, cpu)["accuracy"]}


def fill_untrained(picked: list[config.Experiment]) -> list[dict[str, Any]]:
    """The saved rows of ``picked`` measured before the untrained column existed, with it (and a verdict) added.

    The untrained probe depends on the data, the encoder's configuration and the seed only, so it is
    measured without pretraining; the row's other columns keep their date, ``untrained_measured`` says its own.
    """
    saved = {r["experiment"]: r for r in json.loads((RESULTS / "quality.json").read_text()).get("rows", [])}
    rows = []
    for exp in picked:
        row = saved.get(exp.name)
        if row is None or "untrained" in row or "linear" not in row:
            continue
        got = baselines(exp)
        row = {**row, "untrained": got["untrained"], "untrained_measured": dt.date.today().isoformat(),
               "untrained_revision": git_revision()}
        if abs(got["raw"] - row["raw"]) > 1e-6:
            row["raw_now"] = got["raw"]                            # the data changed since the row was measured
        rows.append({**row, **verdict(row)})
        show(rows[-1])
    return rows


def stamped(rows: list[dict[str, Any]], rev: str) -> list[dict[str, Any]]:
    """``rows`` measured now, each with its date, the revision ``rev`` they were measured at and the machine
    (rows kept from an earlier run keep theirs, so one file can hold rows of several machines and commits)."""
    today, here = dt.date.today().isoformat(), described(machine())
    return [{**r, "measured": r.get("measured", today), "revision": r.get("revision", rev),
             "measured_on": r.get("measured_on", here)} for r in rows]


def merged(rows: list[dict[str, Any]], rev: str, measured_now: bool = True) -> list[dict[str, Any]]:
    """``rows`` and the saved rows of every other experiment, sorted by experiment; each row dated and with its
    machine (a saved row without them takes the saved file's; its revision is not known, so none is given).

    ``rows`` are stamped as measured now (:func:`stamped`) unless ``measured_now`` is false (saved rows with a
    column added). A row that failed now keeps the saved row's numbers, with ``last_error``.
    """
    saved = RESULTS / "quality.json"
    old = json.loads(saved.read_text()) if saved.is_file() else {}
    kept = {"measured": old.get("machine", {}).get("date", "")[:10], "measured_on": described(old.get("machine", {}))}
    before = {r["experiment"]: {**kept, **r} for r in old.get("rows", [])}
    out: dict[str, dict[str, Any]] = {}
    for r in stamped(rows, rev) if measured_now else rows:
        name = r["experiment"]
        if "error" in r and name in before:
            out[name] = {**before[name], "last_error": r["error"], "last_error_revision": rev}
        else:
            out[name] = r if measured_now else {**kept, **r}
    for name, r in before.items():
        out.setdefault(name, {**r, **(verdict(r) if "untrained" in r and "linear" in r else {})})
    return [out[k] for k in sorted(out)]


def compare_compressors(path: Path, cpu_seconds: float, seeds: tuple[int, ...] = (0,)) -> None:
    """The language model against the compressors on the text at ``path``, printed and saved in quality.json."""
    with tempfile.TemporaryDirectory() as tmp:
        record = compressors.compare(path, cpu_seconds, Path(tmp), seeds)
    print(f"{path}: {record['train_bytes']} training and {record['eval_bytes']} held-out bytes ({record['held_out']})")
    kinds = (("strided", "bits_per_byte"), ("fresh", "fresh_bits_per_byte"))
    models = {f"BPE transformer, seed {r['seed']}, {r['steps']} steps, {window} windows": r[key]
              for r in record["seeds"] for window, key in kinds}
    for name, bits in {**record["compressors"], **models}.items():
        print(f"  {name}: {bits:.3f} bits per byte")
    print("  the language model beats " + (", ".join(k for k, v in record["beats"].items() if v) or "none of them"))
    compressors.save(record)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="Comma-separated modalities (default: all).")
    ap.add_argument("--objectives", default="", help="Comma-separated objectives or experiment suffixes (simclr).")
    ap.add_argument("--steps", type=int, default=0, help="Override every experiment's train.steps (0: as shipped).")
    ap.add_argument("--keep-others", action="store_true",
                    help="Keep the saved rows of experiments not measured now (each row keeps its own date).")
    ap.add_argument("--fill-untrained", action="store_true",
                    help="Only add the untrained-encoder probe to saved rows that lack it (no pretraining); "
                         "implies --keep-others.")
    ap.add_argument("--jobs", type=int, default=1,
                    help="Experiments measured at once, each in its own process with one torch thread (default 1).")
    ap.add_argument("--probes-only", action="store_true",
                    help="Pretrain and measure the probes and kNN only; keep the saved rows' supervised and "
                         "fine-tune columns (no probe enters them), dated; implies --keep-others.")
    ap.add_argument("--compressors", metavar="FILE", default="",
                    help="Instead of the experiments: a next-token BPE transformer trained for --cpu-seconds on the "
                         "text FILE (.txt, .jsonl or a folder of them) against gzip -9, bzip2 -9 and xz -9e on its "
                         "held-out text; saved as quality.json's 'compressors'.")
    ap.add_argument("--cpu-seconds", type=float, default=600.0,
                    help="CPU seconds of this process the --compressors language model trains for (default 600).")
    ap.add_argument("--seeds", default="0",
                    help="Comma-separated seeds of the --compressors language model, each trained for the same "
                         "calibrated steps, at once (one process and thread each, up to the cores); it beats a "
                         "compressor only when every seed does (default 0).")
    args = ap.parse_args()
    if args.steps < 0:
        ap.error(f"--steps must be ≥ 0, got {args.steps}")
    if args.jobs < 1:
        ap.error(f"--jobs must be ≥ 1, got {args.jobs}")
    os.nice(NICENESS)
    torch.set_num_threads(1)
    if args.compressors:
        seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip().isdigit())
        if not seeds or len(seeds) != len(args.seeds.split(",")) or len(set(seeds)) != len(seeds):
            ap.error(f"--seeds {args.seeds!r}: expected different comma-separated whole numbers such as 0,1")
        if not Path(args.compressors).exists() or args.cpu_seconds <= 0:
            ap.error(f"--compressors {args.compressors} --cpu-seconds {args.cpu_seconds}: expected an existing text "
                     "file or folder and a positive number of seconds")
        compare_compressors(Path(args.compressors), args.cpu_seconds, seeds)
        return
    only = {m for m in args.only.split(",") if m}
    objectives = {o for o in args.objectives.split(",") if o}
    picked = experiments(only, objectives, args.steps)
    if not picked:
        ap.error("no shipped experiment matches --only/--objectives")
    load_before, revision = os.getloadavg(), git_revision()      # the tree measured is the tree at the start
    print(", ".join(f"{exp.name} ({exp.train.steps} steps)" for exp in picked) + " ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.fill_untrained:
            rows = fill_untrained(picked)
        elif args.jobs == 1:
            rows = []
            for exp in picked:
                rows.append(measure_or_error(exp, Path(tmp), args.probes_only))
                show(rows[-1])
        else:
            spawn = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=spawn, initializer=one_thread) as pool:
                futures = [pool.submit(measure_or_error, exp, Path(tmp), args.probes_only) for exp in picked]
                for done in concurrent.futures.as_completed(futures):
                    show(done.result())
                rows = [f.result() for f in futures]
    failed = [r["experiment"] for r in rows if "error" in r]
    end = git_revision()
    if end != revision:
        revision += f" (HEAD at the end: {end})"
    keep = args.keep_others or args.fill_untrained or args.probes_only
    rows = merged(rows, revision, measured_now=not args.fill_untrained) if keep else stamped(rows, revision)
    required = [r for r in rows if r.get("modality") in MUST_BEAT_RAW and "clear" in r]
    write("quality", rows, {
        "revision": revision, "machine_note": "the machine and revision of the run that last wrote this file; "
        "each row's measured_on (and revision, where known) name its own",
        "threads": 1, "niceness": NICENESS, "shared_machine": True,
        "wall_times": "upper bounds: one torch thread at nice 10 on a machine shared with other work",
        compressors.KEY: compressors.saved(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "steps_override": args.steps or None, "clear_margin": CLEAR_MARGIN,
        "probe": f"{probes.PROTOCOL} (rows with 'probe'); rows without it: 200 full-batch Adam epochs, lr 0.05",
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
