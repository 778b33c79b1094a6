"""Language models against compressors: a next-token run's held-out bits per byte beside gzip, bzip2 and xz.

The text is prepared as every run prepares it (:mod:`sslterm.data.tokens`: whole documents held out,
or each document's tail when there are fewer than ten), and each compressor is measured on the same
held-out bytes conditioned on the training bytes: bits per byte = 8 × (|C(train + test)| − |C(train)|)
/ |test|, with Python's gzip (level 9), bz2 (level 9) and lzma (preset 9 | extreme, i.e. xz -9e).
The language model is a causal byte transformer trained for a budget of CPU seconds (this process's
CPU time, calibrated on a short run, so a loaded machine takes longer but trains as much); its held-out
bits per byte is the run's final clean evaluation over every held-out window (each window starts
afresh, so its first bytes are predicted from little context). Used by ``benchmarks.quality --compressors``.
"""

from __future__ import annotations

import bz2
import contextlib
import datetime as dt
import gzip
import io
import json
import lzma
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, git_revision, machine
from sslterm import config
from sslterm.atomic import atomic_write_text
from sslterm.data.tokens import EVAL, TRAIN, prepare_text
from sslterm.evaluate.transfer import restore
from sslterm.launch import prepare
from sslterm.train.loop import train

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip -9": lambda b: gzip.compress(b, compresslevel=9, mtime=0),
    "bzip2 -9": lambda b: bz2.compress(b, compresslevel=9),
    "xz -9e": lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME),
}
SEQ_LEN = 256
CALIBRATION_STEPS = 20
LM_SETTINGS = {
    "name": "lm-vs-compressors", "data.modality": "text", "data.dataset": "text_files", "data.seq_len": SEQ_LEN,
    "model.encoder": "transformer", "model.dim": 128, "model.depth": 3, "model.heads": 4,
    "objective.name": "next_token", "objective.head_hidden": 0,
    "train.batch_size": 16, "train.lr": 3e-3, "train.warmup_steps": 100, "train.min_lr_ratio": 0.05,
    "train.weight_decay": 0.01, "train.threads": 1, "train.device": "cpu", "train.log_every": 10,
    "train.snapshot_every": 100_000, "train.checkpoint_every": 100_000, "eval.max_examples": 1_000_000,
}
"""The language model: a byte-level causal transformer (GPT-style, 3 blocks of width 128, about the
compute-optimal size for 10 CPU minutes), no augmentation."""


def conditional_bits(compress: Callable[[bytes], bytes], train_text: bytes, test_text: bytes) -> float:
    """Bits per byte ``compress`` spends on ``test_text`` after ``train_text``: 8 (|C(tr + te)| − |C(tr)|) / |te|."""
    if not test_text:
        raise ValueError("the held-out text is empty")
    return 8 * (len(compress(train_text + test_text)) - len(compress(train_text))) / len(test_text)


def compressor_bits(train_text: bytes, test_text: bytes) -> dict[str, float]:
    """Each compressor's held-out bits per byte, conditioned on the training text."""
    return {name: conditional_bits(c, train_text, test_text) for name, c in COMPRESSORS.items()}


def split_text(path: Path) -> tuple[bytes, bytes, dict[str, Any]]:
    """(training bytes, held-out bytes, manifest) of ``path`` prepared as a byte-token run prepares it."""
    entry, manifest = prepare_text(path, log=False)
    return (entry / TRAIN).read_bytes(), (entry / EVAL).read_bytes(), manifest


def lm_experiment(path: Path, steps: int, evaluate: bool = True) -> config.Experiment:
    """The language model's experiment on the text at ``path`` for ``steps`` steps (one final evaluation or none)."""
    settings = {**LM_SETTINGS, "data.path": str(path), "train.steps": steps, "eval.every": steps if evaluate else 0}
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "lm.toml"
        f.write_text("[augment]\n")                              # no augmentation
        return config.load(f, [f"{k}={v}" for k, v in settings.items()])


def cpu_seconds_per_step(path: Path, root: Path) -> float:
    """This process's CPU seconds per training step of the language model, from its second ten steps."""
    exp = lm_experiment(path, CALIBRATION_STEPS, evaluate=False)
    marks: dict[int, float] = {}

    def mark(step: int, device: str) -> None:
        marks.setdefault(step, time.process_time())

    with contextlib.redirect_stdout(io.StringIO()):
        train(exp, prepare(exp, root, source="benchmarks/compressors.py"), lambda: False, mark)
    first, last = CALIBRATION_STEPS // 2, CALIBRATION_STEPS
    return (marks[last] - marks[first]) / (last - first)


def measure_lm(path: Path, cpu_seconds: float, root: Path) -> dict[str, Any]:
    """Train the language model for about ``cpu_seconds`` of CPU time; its held-out bits per byte and costs."""
    per_step = cpu_seconds_per_step(path, root)
    steps = max(CALIBRATION_STEPS, int(cpu_seconds / per_step))
    exp = lm_experiment(path, steps)
    run = prepare(exp, root, source="benchmarks/compressors.py")
    cpu, wall, load = time.process_time(), time.perf_counter(), os.getloadavg()
    with contextlib.redirect_stdout(io.StringIO()):
        train(exp, run, lambda: False, lambda step, device: None)
    final = [r for r in run.metrics() if "eval_bits_per_byte" in r][-1]
    return {"steps": steps, "cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall,
            "load_average_before": load, "load_average_after": os.getloadavg(),
            "bits_per_byte": float(final["eval_bits_per_byte"]), "eval_loss": float(final["eval_loss"]),
            "settings": {k: v for k, v in LM_SETTINGS.items() if k.startswith(("data.seq", "model.", "train."))},
            "parameters": sum(p.numel() for p in restore(run, torch.device("cpu"))[2].parameters())}


def compare(path: Path, cpu_seconds: float, root: Path) -> dict[str, Any]:
    """The whole comparison on the text at ``path``: compressors, the language model, and who beats whom."""
    train_text, test_text, manifest = split_text(path)
    started = time.perf_counter()
    bits = compressor_bits(train_text, test_text)
    record: dict[str, Any] = {
        "text": str(path), "held_out": manifest.get("held_out"), "documents": manifest.get("documents"),
        "train_bytes": len(train_text), "eval_bytes": len(test_text), "compressors": bits,
        "compressors_s": time.perf_counter() - started, "formula": "8 * (|C(train + test)| - |C(train)|) / |test|"}
    lm = measure_lm(path, cpu_seconds, root)
    record["lm"] = {**lm, "cpu_seconds_budget": cpu_seconds, "threads": 1}
    record["beats"] = {name: lm["bits_per_byte"] < b for name, b in bits.items()}
    if not math.isfinite(lm["bits_per_byte"]):
        record["note"] = "the language model diverged"
    return record


QUALITY = RESULTS / "quality.json"
KEY = "compressors"
"""quality.json's key for the comparison; the experiments' rows sit beside it."""


def saved() -> dict[str, Any] | None:
    """The comparison saved in quality.json, if any (kept when the experiments' rows are rewritten)."""
    if not QUALITY.is_file():
        return None
    return json.loads(QUALITY.read_text()).get(KEY)


def save(record: dict[str, Any]) -> None:
    """Write ``record`` (with the machine, date and revision) into quality.json's ``compressors``."""
    whole = json.loads(QUALITY.read_text()) if QUALITY.is_file() else {"benchmark": "quality", "rows": []}
    whole[KEY] = {**record, "machine": machine(), "revision": git_revision(),
                  "measured": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    atomic_write_text(QUALITY, json.dumps(whole, indent=1) + "\n")
