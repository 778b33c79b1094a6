"""Labelled text folders under a byte-level BPE (``data.tokenizer = "bpe"``), trained on the training lines only.

A folder of class subfolders of .txt files holds one example per non-blank line. Under a BPE the
lines are split (10% held out, seeded) *before* anything is learnt from them, the BPE is trained on
the training lines alone, and every line is encoded with it; ``max_examples`` then draws at most that
many lines from the two sides in proportion (a held-out line stays held out), and a line longer than
``seq_len`` tokens is cut into several examples of its class. The BPE and
the encoded lines are prepared once into an entry of the data cache (:mod:`sslterm.prepared`):
``tokenizer.json``, ``ids.npy`` (int32, every line's ids end to end), ``lengths.npy`` and
``labels.npy`` (one per line). Reading an entry needs no library; preparing one imports ``tokenizers``.
"""

from __future__ import annotations

import shutil
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslterm import bpe_train
from sslterm.atomic import atomic_write
from sslterm.data import Dataset
from sslterm.data.bpe import TOKENIZER, check_vocab, entry_info, token_lengths, train_texts
from sslterm.data.splits import EVAL_FRACTION, split_order
from sslterm.data.text import OFFSET, PAD, labelled_files, read_text_bytes, visible_lines
from sslterm.prepared import entry_dir, fingerprint, reuse_or_prepare, start_entry, write_manifest

ARRAYS = ("ids", "lengths", "labels")


def chosen_lines(n: int, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, held-out) line indices of ``n`` lines: the seeded split of them all, then at most ``limit``
    lines (0: all) drawn from its two sides in proportion (at least one held out), so a held-out line is
    held out whatever ``limit`` is and the BPE, trained on every training line, is the same for any limit."""
    tr, ev = split_order(n, seed)                           # each side in a seeded random order
    if limit and limit < n:
        n_ev = min(len(ev), max(1, round(limit * EVAL_FRACTION)))
        tr, ev = tr[: limit - n_ev], ev[:n_ev]
    return tr.numpy(), ev.numpy()


def _prepare(root: Path, entry: Path, files: list[tuple[Path, int]], classes: tuple[str, ...],
             options: dict[str, Any], prints: dict[str, Any], changed: bool) -> tuple[Path, dict[str, Any]]:
    bpe_train.require()                                      # before any work: one line when it is missing
    why = "the source changed since it was prepared" if changed else "first use"
    print(f"preparing labelled text {root} ({prints['source_bytes'] / 1e6:.1f} MB in {prints['files']} file(s); "
          f"{why}) into {entry}", file=sys.stderr, flush=True)
    lines: list[str] = []
    labels: list[int] = []
    for f, label in files:                                   # a loop over files; lines are listed, not looped
        got = visible_lines(read_text_bytes(f))
        lines += [line.decode("utf-8", errors="replace") for line in got]
        labels += [label] * len(got)
    if len(lines) < 2:
        raise ValueError(f"{root}: {len(lines)} non-blank line(s) in its .txt files; expected at least 2 "
                         "(one example per line, one held out)")
    train, held = chosen_lines(len(lines), 0, int(options["seed"]))     # the BPE learns every training line
    texts = [lines[i] for i in train]
    start_entry(entry)
    try:
        what = f"{root}: {sum(len(t.encode()) for t in texts):,} bytes in {len(texts):,} training lines"
        tokenizer = train_texts(texts, int(options["vocab_size"]), entry / TOKENIZER, what)
    except ValueError:                                       # too little text for the vocabulary: keep nothing
        shutil.rmtree(entry, ignore_errors=True)
        raise
    encoded = [e.ids for e in tokenizer.encode_batch_fast(lines, add_special_tokens=False)]   # on all cores
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)
    ids = np.concatenate([np.asarray(e, dtype=np.int32) for e in encoded])
    arrays: tuple[np.ndarray, ...] = (ids, lengths, np.array(labels, dtype=np.int64))
    for name, array in zip(ARRAYS, arrays, strict=True):
        atomic_write(entry / f"{name}.npy", partial(np.save, arr=array))
    spelled = token_lengths(entry / TOKENIZER)
    manifest = {"kind": "text", "source": str(root.resolve()), "options": options, "fingerprint": prints,
                "tokenizer": "bpe", "labelled": True, "classes": list(classes),
                "counts": {"train": len(train), "eval": len(held)}, "bpe_vocab": int(options["vocab_size"]),
                "vocab_size": int(options["vocab_size"]) + OFFSET,
                "bytes_per_token": float(spelled[ids].sum() / max(len(ids), 1))}
    return entry, write_manifest(entry, manifest)


def cut(ids: np.ndarray, lengths: np.ndarray, labels: np.ndarray, lines: np.ndarray,
        seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``lines`` (indices) as examples of ≤ ``seq_len`` ids, PAD after: (int64 [n, L], labels [n]).

    ``ids`` holds every line's BPE ids end to end (``lengths`` each); a longer line gives several
    examples of its class. Vectorised over tokens, as :func:`sslterm.data.text.split_lines` is over bytes.
    """
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[lines]
    lens = lengths[lines]
    if not lens.sum():
        return torch.zeros(0, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    line = np.repeat(np.arange(len(lines)), lens)                           # which chosen line each token is of
    pos = np.arange(len(line)) - np.repeat(np.cumsum(lens) - lens, lens)    # its place in the line
    chunk = pos // seq_len
    new = np.r_[True, (line[1:] != line[:-1]) | (chunk[1:] != chunk[:-1])]
    example = np.cumsum(new) - 1
    width = int(min(seq_len, lens.max()))
    x = np.full((int(example[-1]) + 1, width), PAD, dtype=np.int64)
    x[example, pos % seq_len] = ids[np.repeat(starts, lens) + pos].astype(np.int64) + OFFSET
    return torch.from_numpy(x), torch.from_numpy(labels[lines][line[new]])


def prepare_labelled_bpe(root: Path, vocab_size: int, seed: int = 0,
                         cache: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The prepared entry of the labelled folder ``root`` under a BPE (made now unless a current one exists)."""
    check_vocab(vocab_size)
    files, classes = labelled_files(root)
    if not files:
        raise ValueError(f"{root}: no .txt files in its class subfolders; expected lines of text")
    kept = {"tokenizer": "bpe", "labelled": True, "vocab_size": vocab_size, "seed": seed}
    entry = entry_dir("text", root, kept, cache)
    prints = fingerprint([f for f, _ in files], root)
    return reuse_or_prepare(entry, prints, lambda stale: _prepare(root, entry, files, classes, kept, prints,
                                                                  stale is not None))


def load_labelled_bpe(root: Path, options: dict[str, Any]) -> Dataset:
    """The ``text_files`` dataset of a labelled folder under a BPE: prepared once, then cut to ``seq_len``."""
    seed, limit = int(options["seed"]), int(options["max_examples"])
    if limit == 1:
        raise ValueError(f"{root}: data.max_examples = 1 line; expected at least 2 (one example per line, one "
                         "held out), or 0 for all")
    entry, manifest = prepare_labelled_bpe(root, int(options.get("vocab_size", 8192)), seed)
    classes = tuple(manifest["classes"])                     # the folders it was prepared from (fingerprinted)
    ids, lengths, labels = (np.load(entry / f"{name}.npy", allow_pickle=False) for name in ARRAYS)
    train, held = chosen_lines(len(lengths), limit, seed)
    seq_len = int(options["seq_len"])
    (x_tr, y_tr), (x_ev, y_ev) = (cut(ids, lengths, labels, lines, seq_len) for lines in (train, held))
    width = max(x_tr.shape[1], x_ev.shape[1])
    x_tr, x_ev = (torch.nn.functional.pad(x, (0, width - x.shape[1]), value=PAD) for x in (x_tr, x_ev))
    info: dict[str, Any] = {"vocab_size": int(manifest["vocab_size"]), "seq_len": width, "num_classes": len(classes),
                            "bytes_per_token": float(manifest["bytes_per_token"]), **entry_info(entry, OFFSET)}
    return Dataset({"x": x_tr}, {"x": x_ev}, y_tr, y_ev, classes, info)
