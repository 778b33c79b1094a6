"""Language models against compressors: a next-token run's held-out bits per byte beside gzip, bzip2 and xz.

The text is prepared as every run prepares it (:mod:`sslterm.data.tokens`: whole documents held out,
or each document's tail when there are fewer than ten), and each compressor is measured on the same
held-out bytes conditioned on the training bytes: bits per byte = 8 × (|C(train + test)| − |C(train)|)
/ |test|, with Python's gzip (level 9), bz2 (level 9) and lzma (preset 9 | extreme, i.e. xz -9e).
The language model is a causal transformer trained for a budget of CPU seconds (this process's CPU time,
calibrated on a short run, so a loaded machine takes longer but trains as much). Its held-out bits per byte
is measured on the trained model restored from the run, over the held-out token stream, every held-out byte
counted once: strided (windows half a window apart, each token scored in the window where it has the most
context, :func:`strided_bits`) and, beside it, over fresh windows that each start afresh as the run's own
evaluation does. Under a BPE the bits of each token are divided by the bytes it spells, so the comparison
stays per byte of the same held-out text. Used by ``benchmarks.quality --compressors``.
"""

from __future__ import annotations

import bz2
import concurrent.futures
import contextlib
import datetime as dt
import gzip
import hashlib
import io
import json
import lzma
import math
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.common import RESULTS, git_revision, machine
from sslterm import config
from sslterm.atomic import atomic_write_text
from sslterm.data import windows
from sslterm.data.tokens import EVAL, TRAIN, prepare_text
from sslterm.evaluate.transfer import restore
from sslterm.launch import prepare
from sslterm.objectives.next_token import NextToken, token_byte_table
from sslterm.train.loop import train

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip -9": lambda b: gzip.compress(b, compresslevel=9, mtime=0),
    "bzip2 -9": lambda b: bz2.compress(b, compresslevel=9),
    "xz -9e": lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME),
}
SEQ_LEN = 128
VOCAB = 2048
CALIBRATION_STEPS = 20
LM_SETTINGS = {
    "name": "lm-vs-compressors", "data.modality": "text", "data.dataset": "text_files", "data.seq_len": SEQ_LEN,
    "data.tokenizer": "bpe", "data.vocab_size": VOCAB,
    "model.encoder": "transformer", "model.dim": 128, "model.depth": 3, "model.heads": 4,
    "objective.name": "next_token", "objective.head_hidden": 0,
    "train.batch_size": 16, "train.lr": 3e-3, "train.warmup_steps": 100, "train.min_lr_ratio": 0.05,
    "train.weight_decay": 0.01, "train.threads": 1, "train.device": "cpu", "train.log_every": 10,
    "train.snapshot_every": 100_000, "train.checkpoint_every": 100_000, "eval.max_examples": 1_000_000,
}
"""The language model: a causal transformer (GPT-style, 3 blocks of width 128) over a byte-level BPE of
2,048 tokens trained on the training text (3.2 bytes a token), windows of 128 tokens, batch 16, no
augmentation. Chosen by 150-CPU-second trials (README): the BPE, the shorter window and the smaller batch
each lowered the held-out bits per byte at equal CPU time."""


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


def lm_experiment(path: Path, steps: int, evaluate: bool = True,
                  settings: dict[str, Any] | None = None) -> config.Experiment:
    """The language model's experiment on the text at ``path`` for ``steps`` steps (one final evaluation or none);
    ``settings`` replace :data:`LM_SETTINGS` (trials of other settings)."""
    settings = {**(LM_SETTINGS if settings is None else settings), "data.path": str(path), "train.steps": steps,
                "eval.every": steps if evaluate else 0}
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "lm.toml"
        f.write_text("[augment]\n")                              # no augmentation
        return config.load(f, [f"{k}={v}" for k, v in settings.items()])


def cpu_seconds_per_step(path: Path, root: Path, settings: dict[str, Any] | None = None) -> float:
    """This process's CPU seconds per training step of the language model, from its second ten steps."""
    exp = lm_experiment(path, CALIBRATION_STEPS, evaluate=False, settings=settings)
    marks: dict[int, float] = {}

    def mark(step: int, device: str) -> None:
        marks.setdefault(step, time.process_time())

    with contextlib.redirect_stdout(io.StringIO()):
        train(exp, prepare(exp, root, source="benchmarks/compressors.py"), lambda: False, mark)
    first, last = CALIBRATION_STEPS // 2, CALIBRATION_STEPS
    return (marks[last] - marks[first]) / (last - first)


@torch.no_grad()
def strided_bits(objective: NextToken, stream: torch.Tensor, window: int, stride: int,
                 token_bytes: torch.Tensor, batch_size: int = 16) -> dict[str, float]:
    """Held-out bits per byte of a causal next-token ``objective`` over the token ``stream`` [T], each token once.

    Windows of ``window`` tokens start ``stride`` tokens apart (0, S, 2S, ..., the last one reaching the end of
    the stream; PAD past it). The first window scores every token it predicts (positions 1..W−1); each later
    window scores only its last ``stride`` tokens, those that follow the end of the window before it, so every
    token but the stream's first is scored exactly once, in the window where it has the most context (at
    least W − S tokens). ``stride = window − 1`` is the fresh windows of a run's own evaluation (each window
    starts afresh, sharing one token with the one before). The stream's first token has no context: it is
    charged 8 bits for each byte it spells (stored raw), so the bits are divided by every held-out byte.
    ``token_bytes`` [V] gives the bytes each id spells (PAD and MASK 0).
    """
    t = int(stream.shape[0])
    if not 1 <= stride < window:
        raise ValueError(f"stride {stride}: expected 1..{window - 1} (window {window})")
    if t < 1:
        raise ValueError("the held-out stream is empty")
    count = 1 if t <= window else 1 + -(-(t - window) // stride)
    starts = torch.arange(count) * stride
    position = torch.arange(1, window)                                  # each target's place in its window
    bits = spelled = 0.0
    tokens = 0
    was_training = objective.training
    objective.eval()
    try:
        for chunk in starts.split(batch_size):
            x = windows(stream, chunk, window)                          # [B, W] ids, PAD past the end
            logits, targets, valid = objective.predict(x)               # [B, W−1, V], [B, W−1], [B, W−1]
            nll = F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")   # nats [B, W−1]
            scored = valid & ((chunk == 0)[:, None] | (position >= window - stride)[None])
            bits += float(nll[scored].sum()) / math.log(2)
            spelled += float(token_bytes[targets[scored]].sum())
            tokens += int(scored.sum())
    finally:
        objective.train(was_training)
    first = float(token_bytes[windows(stream, torch.zeros(1, dtype=torch.long), 1)[0, 0]])
    return {"bits_per_byte": (bits + 8 * first) / (spelled + first), "bytes": spelled + first,
            "tokens_scored": tokens, "windows": count, "window": window, "stride": stride}


def measure_lm(path: Path, cpu_seconds: float, root: Path, settings: dict[str, Any] | None = None,
               stride: int | None = None, steps: int | None = None) -> dict[str, Any]:
    """Train the language model for about ``cpu_seconds`` of CPU time (or for ``steps``, not calibrated); its
    held-out bits per byte and costs.

    ``bits_per_byte`` is the strided evaluation (:func:`strided_bits`, stride half the window unless
    ``stride`` says) of the trained model restored from the run; ``fresh_bits_per_byte`` the same model
    over windows that each start afresh (stride W − 1), and ``run_eval_bits_per_byte`` the run's own final
    evaluation (the same windows, the stream's first token left out).
    """
    settings = LM_SETTINGS if settings is None else settings
    steps = steps or budget_steps(path, cpu_seconds, root, settings)
    exp = lm_experiment(path, steps, settings=settings)
    run = prepare(exp, root, source="benchmarks/compressors.py")
    cpu, wall, load = time.process_time(), time.perf_counter(), os.getloadavg()
    with contextlib.redirect_stdout(io.StringIO()):
        train(exp, run, lambda: False, lambda step, device: None)
    cpu_s, wall_s, load_after = time.process_time() - cpu, time.perf_counter() - wall, os.getloadavg()
    final = [r for r in run.metrics() if "eval_bits_per_byte" in r][-1]
    _, data, objective, _ = restore(run, torch.device("cpu"))
    assert isinstance(objective, NextToken)
    table = token_byte_table(data.info)
    assert table is not None
    window = data.window
    eval_started = time.process_time()
    strided = strided_bits(objective, data.eval["x"], window, stride or window // 2, table)
    fresh = strided_bits(objective, data.eval["x"], window, window - 1, table)
    return {"steps": steps, "cpu_s": cpu_s, "wall_s": wall_s, "load_average_before": load,
            "load_average_after": load_after, "bits_per_byte": strided["bits_per_byte"],
            "fresh_bits_per_byte": fresh["bits_per_byte"], "run_eval_bits_per_byte": float(final["eval_bits_per_byte"]),
            "eval_loss": float(final["eval_loss"]), "strided": strided, "fresh": fresh,
            "eval_cpu_s": time.process_time() - eval_started, "tokens_per_step": window * int(exp.train.batch_size),
            "settings": {k: v for k, v in settings.items() if k.startswith(("data.seq", "data.tok", "data.voc",
                                                                            "model.", "train."))},
            "parameters": sum(p.numel() for p in objective.parameters())}


def budget_steps(path: Path, cpu_seconds: float, root: Path, settings: dict[str, Any]) -> int:
    """The steps that fit in ``cpu_seconds`` of one thread, calibrated on :data:`CALIBRATION_STEPS` steps."""
    return max(CALIBRATION_STEPS, int(cpu_seconds / cpu_seconds_per_step(path, root, settings)))


def _measure_seed(path: Path, cpu_seconds: float, root: Path, seed: int, steps: int) -> dict[str, Any]:
    """:func:`measure_lm` for ``steps`` with the model's ``seed`` (its initialisation and batches; the held-out
    documents stay)."""
    torch.set_num_threads(1)
    root.mkdir(parents=True, exist_ok=True)
    return {"seed": seed, **measure_lm(path, cpu_seconds, root, settings={**LM_SETTINGS, "seed": seed}, steps=steps)}


def compare(path: Path, cpu_seconds: float, root: Path, seeds: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """The whole comparison on the text at ``path``: compressors, the language model, and who beats whom.

    With several ``seeds`` the model is trained once per seed for the same steps (one calibration of the CPU
    budget, made first, alone), each in its own process on one thread, as many at once as there are cores;
    ``lm`` is the first seed's, ``seeds`` every seed's figures, and the model beats a compressor only when
    every seed does.
    """
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {list(seeds)}: expected one or more different seeds")
    train_text, test_text, manifest = split_text(path)
    started = time.perf_counter()
    bits = compressor_bits(train_text, test_text)
    record: dict[str, Any] = {
        "text": str(path), "held_out": manifest.get("held_out"), "documents": manifest.get("documents"),
        "sha256": {"train": hashlib.sha256(train_text).hexdigest(), "eval": hashlib.sha256(test_text).hexdigest()},
        "train_bytes": len(train_text), "eval_bytes": len(test_text), "compressors": bits,
        "compressors_s": time.perf_counter() - started, "formula": "8 * (|C(train + test)| - |C(train)|) / |test|"}
    steps = budget_steps(path, cpu_seconds, root, LM_SETTINGS)
    spawn = multiprocessing.get_context("spawn")
    workers = min(len(seeds), os.cpu_count() or 1)
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        runs = list(pool.map(_measure_seed, *zip(*[(path, cpu_seconds, root / f"seed{s}", s, steps) for s in seeds],
                                                   strict=True)))
    record["lm"] = {**runs[0], "cpu_seconds_budget": cpu_seconds, "threads": 1}
    record["seeds"] = [{k: r[k] for k in ("seed", "steps", "cpu_s", "bits_per_byte", "fresh_bits_per_byte")}
                       for r in runs]
    record["beats"] = {name: all(r["bits_per_byte"] < b for r in runs) for name, b in bits.items()}
    record["beats_fresh_windows"] = {name: all(r["fresh_bits_per_byte"] < b for r in runs) for name, b in bits.items()}
    for r in runs:
        if abs(r["strided"]["bytes"] - len(test_text)) > 0.5:
            raise RuntimeError(f"the language model scored {r['strided']['bytes']:.0f} held-out bytes, the "
                               f"compressors {len(test_text)}: not the same text")
    if not all(math.isfinite(r["bits_per_byte"]) for r in runs):
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
