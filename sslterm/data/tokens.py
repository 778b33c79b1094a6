"""Text tokenised once into memory-mapped token streams (train and held-out) with a manifest.

Sources: one ``.txt`` file, one ``.jsonl`` file (a text field per record), or a folder of them
(searched recursively; no class subfolders). A document is a ``.txt`` file or a ``.jsonl``
record; each ends with a newline in the stream (one is added where it is missing). Held-out text is
whole documents, never lines of training documents: with at least ``MIN_DOCUMENTS`` documents a
seeded ``EVAL_FRACTION`` of them (at least one); with fewer, each document's tail (its last
``EVAL_FRACTION`` of bytes, from a line start where there is one), so held-out text always follows
the text it was trained on and never precedes it.

The tokeniser is bytes (the streams store raw bytes, uint8, 1 byte per token) or a byte-level BPE
trained on the training stream (:mod:`sslterm.data.bpe`: ``tokenizer.json`` and uint16 or int32 id
streams replace the byte streams); either way a token id is the stored value + 2 when a window is
gathered (:mod:`sslterm.data.text`'s ids). The manifest names each split's file (``files``) and
counts its tokens and the bytes they spell. Files are read in chunks and records one at a time, so
preparing a corpus takes memory independent of its size.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from sslterm import bpe_train
from sslterm.atomic import atomic_write
from sslterm.data import bpe
from sslterm.formats import AUTO, Format, detect
from sslterm.prepared import entry_dir, fingerprint, reuse_or_prepare, start_entry, write_manifest

EVAL_FRACTION = 0.1
MIN_DOCUMENTS = 10
"""With fewer documents than this, each document's tail is held out instead of whole documents."""
SUFFIXES = (".txt", ".jsonl")
TABLE_SUFFIXES = (".parquet", ".arrow")
"""Table files (Parquet, Arrow IPC streams): a row of the text column per document, as a .jsonl record."""
RECORD_SUFFIXES = (".jsonl", *TABLE_SUFFIXES)
_CHUNK = 1 << 23                                           # bytes read at a time from a .txt file
TRAIN, EVAL = "train.u8", "eval.u8"
TOKENIZERS = ("bytes", "bpe")
DEFAULT_VOCAB = 8192


def text_sources(path: Path, data_format: str = AUTO) -> list[Path]:
    """The files of a text source, sorted (a Parquet or Hugging Face source: its training split's table files,
    :func:`sslterm.formats.detect`); one line naming what is wrong when there are none."""
    return _sources(path, detect(path, "text", data_format))


def _sources(path: Path, fmt: Format) -> list[Path]:
    """The files of a text source whose format is ``fmt`` (see :func:`text_sources`)."""
    if fmt in (Format.PARQUET, Format.HF_DATASET):
        from sslterm.data.arrow import open_table

        return open_table(str(path), fmt).train.files
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"{path}: no such file or folder; expected a .txt or .jsonl file, or a folder of them")
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES
                   and not any(part.startswith(".") for part in f.relative_to(path).parts))
    if not files:
        raise ValueError(f"{path}: no .txt or .jsonl files found; expected a .txt or .jsonl file, or a folder of them")
    return files


def _records(f: Path, field: str) -> Iterator[bytes]:
    """The ``field`` text of every record of a .jsonl file (or row of a table file: Parquet, Arrow), UTF-8 encoded;
    one line naming a bad record."""
    if f.suffix.lower() in TABLE_SUFFIXES:
        from sslterm.data.arrow import Split, texts

        yield from texts(Split([f]), field)
        return
    with f.open("rb") as src:
        for lineno, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise ValueError(f"{f}: line {lineno} is not JSON; expected one JSON object per line") from None
            text = record.get(field) if isinstance(record, dict) else None
            if not isinstance(text, str):
                raise ValueError(f"{f}: line {lineno} has no text field {field!r}; expected objects with a "
                                 f"string {field!r} (set data.text_field)")
            yield text.encode("utf-8")


def _as_records(f: Path, fmt: Format, forced: bool) -> bool:
    """Whether ``f`` is read record by record (a table file; a .jsonl file, or any file when data.format says
    jsonl) rather than as one plain-text document (a file data.format says is text_files, whatever its suffix)."""
    if f.suffix.lower() in TABLE_SUFFIXES:
        return True
    return fmt is Format.JSONL if forced else f.suffix.lower() == ".jsonl"


def _count_records(f: Path) -> int:
    if f.suffix.lower() in TABLE_SUFFIXES:
        from sslterm.data.arrow import count_rows

        return count_rows(f)
    with f.open("rb") as src:
        return sum(1 for line in src if line.strip())


def _txt_chunks(f: Path, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
    """Bytes ``start``..``stop`` of a text file in chunks; one line naming a file with NUL bytes."""
    with f.open("rb") as src:
        src.seek(start)
        left = (stop if stop is not None else f.stat().st_size) - start
        while left > 0:
            chunk = src.read(min(_CHUNK, left))
            if not chunk:
                break
            if b"\x00" in chunk:
                raise ValueError(f"{f}: contains NUL bytes, so it is not a text file; expected UTF-8 text")
            left -= len(chunk)
            yield chunk


def tail_start(f: Path) -> int:
    """Where a file's held-out tail begins: the first line start at or after 1 − EVAL_FRACTION of its bytes."""
    size = f.stat().st_size
    cut = int(size * (1 - EVAL_FRACTION))
    with f.open("rb") as src:
        src.seek(max(cut - 1, 0))
        rest = src.read(min(size - cut + 1, 1 << 20))
    newline = rest.find(b"\n") if cut > 0 else -1
    return cut if newline < 0 or cut + newline >= size else cut + newline


def _cut_tail(doc: bytes) -> int:
    cut = int(len(doc) * (1 - EVAL_FRACTION))
    newline = doc.find(b"\n", max(cut - 1, 0))
    return cut if newline < 0 or newline + 1 >= len(doc) else newline + 1


class _Writer:
    """Appends documents to a stream, ending each with a newline, and counts what it wrote."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.bytes, self.documents, self._last, self._open = f, 0, 0, b"\n", False

    def write(self, data: bytes) -> None:
        if data:
            self.f.write(data)
            self.bytes += len(data)
            self._last, self._open = data[-1:], True

    def end_document(self) -> None:
        """End the document written since the last call (nothing when none was)."""
        if not self._open:
            return
        if self._last != b"\n":
            self.write(b"\n")
        self.documents += 1
        self._open = False


def tokenise(path: Path, entry: Path, text_field: str, seed: int, data_format: str = AUTO) -> dict[str, Any]:
    """Write the train and held-out byte streams of ``path`` into ``entry``; the manifest's counts."""
    fmt = detect(path, "text", data_format)
    files = _sources(path, fmt)
    is_records = {f: _as_records(f, fmt, data_format != AUTO) for f in files}
    counts = [_count_records(f) if is_records[f] else 1 for f in files]
    total = sum(counts)
    if total == 0:
        raise ValueError(f"{path}: holds no text; expected non-empty .txt files or .jsonl records")
    whole = total >= MIN_DOCUMENTS
    held = np.zeros(total, dtype=bool)
    if whole:
        held[np.random.default_rng(seed).permutation(total)[: max(1, round(total * EVAL_FRACTION))]] = True

    def write_all(train: BinaryIO, held_out: BinaryIO) -> tuple[_Writer, _Writer]:
        tw, ew = _Writer(train), _Writer(held_out)
        doc = 0
        for f, n in zip(files, counts, strict=True):
            if is_records[f]:
                for text in _records(f, text_field):
                    cut = len(text) if whole else _cut_tail(text)
                    if whole and held[doc]:
                        cut = 0
                    tw.write(text[:cut])
                    tw.end_document()
                    ew.write(text[cut:])
                    ew.end_document()
                    doc += 1
                continue
            cut = f.stat().st_size if whole else tail_start(f)
            if whole and held[doc]:
                cut = 0
            for chunk in _txt_chunks(f, 0, cut):
                tw.write(chunk)
            tw.end_document()
            for chunk in _txt_chunks(f, cut):
                ew.write(chunk)
            ew.end_document()
            doc += n
        return tw, ew

    out: dict[str, _Writer] = {}

    def both(held_out: BinaryIO) -> None:                # both streams in one pass over the source
        atomic_write(entry / TRAIN, lambda train: out.update(zip(("train", "eval"), write_all(train, held_out),
                                                                 strict=True)))

    atomic_write(entry / EVAL, both)
    return {"documents": total, "held_out": "whole documents" if whole else "each document's tail",
            "train_bytes": out["train"].bytes, "eval_bytes": out["eval"].bytes,
            "train_documents": out["train"].documents, "eval_documents": out["eval"].documents}


def prepare_text(path: Path, text_field: str = "text", seed: int = 0, root: Path | None = None,
                 log: bool = True, tokenizer: str = "bytes", vocab_size: int = DEFAULT_VOCAB,
                 data_format: str = AUTO) -> tuple[Path, dict[str, Any]]:
    """The prepared entry of the text at ``path`` (made now unless a current one exists) and its manifest.

    ``tokenizer`` is ``bytes`` or ``bpe`` (a byte-level BPE of ``vocab_size`` ids trained on the training
    documents, :mod:`sslterm.data.bpe`); the vocabulary size is part of a BPE entry's options.
    """
    files = text_sources(path, data_format)
    options: dict[str, Any] = {"tokenizer": tokenizer, "text_field": text_field, "seed": seed}
    if data_format != AUTO:
        options["format"] = data_format
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"data.tokenizer = {tokenizer!r}: expected one of {', '.join(TOKENIZERS)}")
    if tokenizer == "bpe":
        bpe.check_vocab(vocab_size)
        options["vocab_size"] = vocab_size
    entry = entry_dir("text", path, options, root)
    prints = fingerprint(files, path if path.is_dir() else Path(os.path.commonpath([f.parent for f in files])))
    return reuse_or_prepare(entry, prints, lambda stale: _prepare(path, entry, options, prints, stale is not None,
                                                               text_field, seed, log))


def _prepare(path: Path, entry: Path, options: dict[str, Any], prints: dict[str, Any], changed: bool,
             text_field: str, seed: int, log: bool) -> tuple[Path, dict[str, Any]]:
    if options["tokenizer"] == "bpe":
        bpe_train.require()                                  # before any work: one line when it is missing
    if log:
        why = "the source changed since it was prepared" if changed else "first use"
        print(f"preparing text {path} ({prints['source_bytes'] / 1e6:.1f} MB in {prints['files']} file(s); {why}) "
              f"into {entry}", file=sys.stderr, flush=True)   # stdout may be a protocol (preview)
    start_entry(entry)
    counts = tokenise(path, entry, text_field, seed, options.get("format", AUTO))
    manifest = {"kind": "text", "source": str(path.resolve()), "options": options, "fingerprint": prints,
                "tokenizer": "bytes", "dtype": "uint8", "bytes_per_token": 1.0, "vocab_size": 258,
                "files": {"train": TRAIN, "eval": EVAL}, **counts,
                "train_tokens": counts["train_bytes"], "eval_tokens": counts["eval_bytes"]}
    if options["tokenizer"] == "bpe":
        try:
            facts = bpe.prepare_bpe(entry, {"train": entry / TRAIN, "eval": entry / EVAL},
                                    int(options["vocab_size"]), path, quiet=not log)
        except ValueError:                       # too little text for the vocabulary: nothing worth keeping
            shutil.rmtree(entry, ignore_errors=True)
            raise
        manifest.update(facts, vocab_size=int(options["vocab_size"]) + 2)
    return entry, write_manifest(entry, manifest)
