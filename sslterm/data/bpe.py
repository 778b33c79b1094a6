"""A byte-level BPE trained on a corpus's training text with the ``tokenizers`` library, and streams encoded with it.

The BPE is GPT-2's byte-level kind: text is split into words and runs of spaces or punctuation, each
byte is one of 256 base tokens, and ``vocab_size − 256`` merges learnt from the training text join
frequent pairs. It is trained on the training stream only (never the held-out one), saved as
``tokenizer.json`` in the prepared entry, and both streams are encoded with it in batches (the
library encodes a batch on all cores) into a flat array of ids: uint16 when the vocabulary has fewer
than 65,536 ids, else int32. Text is decoded as UTF-8 first (an invalid byte becomes U+FFFD), so
each split's byte count is that of the text its tokens spell, the same as the source's for valid UTF-8.

Reading a prepared entry needs no library: each token's bytes follow from ``tokenizer.json`` alone.
Only training and encoding import ``tokenizers`` (``pip install 'sslterm[data]'``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from functools import cache, partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from sslterm.atomic import atomic_write, atomic_write_text
from sslterm.bpe_train import MIN_FREQUENCY, untrained

TOKENIZER = "tokenizer.json"
MIN_VOCAB, MAX_VOCAB = 257, 1 << 18
"""A BPE's vocabulary: the 256 bytes and at least one merge; at most 262,144 ids."""
UINT16_BELOW = 1 << 16
"""Vocabularies smaller than this are stored as uint16, larger ones as int32."""
_BLOCK = 1 << 16                             # bytes of text per piece (a batch holds many: one per core and more)
_BATCH = 1 << 22                             # bytes of text handed to the library per encoding batch


def check_vocab(vocab_size: int) -> None:
    """One line naming a vocabulary size out of range."""
    if not MIN_VOCAB <= vocab_size <= MAX_VOCAB:
        raise ValueError(f"data.vocab_size = {vocab_size}: expected {MIN_VOCAB}..{MAX_VOCAB} (the 256 bytes and "
                         "at least one merge)")


def stream_dtype(vocab_size: int) -> str:
    """The on-disk dtype of a stream of ids below ``vocab_size``."""
    return "uint16" if vocab_size < UINT16_BELOW else "int32"


@cache
def byte_symbols() -> dict[int, str]:
    """GPT-2's byte-level alphabet: the printable character that stands for each byte in a token's name."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    moved = [b for b in range(256) if b not in keep]
    return {**{b: chr(b) for b in keep}, **{b: chr(256 + i) for i, b in enumerate(moved)}}


def token_bytes(tokenizer_file: Path) -> list[bytes]:
    """The bytes each id of a saved byte-level BPE stands for, by id (no library needed)."""
    vocab: dict[str, int] = json.loads(tokenizer_file.read_text(encoding="utf-8"))["model"]["vocab"]
    back = {s: b for b, s in byte_symbols().items()}
    out = [b""] * (max(vocab.values()) + 1)
    for name, i in vocab.items():
        out[i] = bytes(back[c] for c in name)
    return out


def token_lengths(tokenizer_file: Path) -> np.ndarray:
    """How many bytes each id of a saved byte-level BPE spells, by id: int64 [vocabulary]."""
    return np.array([len(b) for b in token_bytes(tokenizer_file)], dtype=np.int64)


def entry_info(entry: Path, offset: int) -> dict[str, Any]:
    """A prepared BPE entry's facts for the model and the preview: the tokenizer file and each model id's bytes.

    Model ids are BPE ids + ``offset`` (the special ids first, spelling nothing).
    """
    return {"tokenizer": "bpe", "tokenizer_file": str(entry / TOKENIZER),
            "token_bytes": (0,) * offset + tuple(int(n) for n in token_lengths(entry / TOKENIZER))}


def display(token: bytes) -> str:
    """A token as text for a preview: spaces as '·', line ends as '↵', other control bytes as '?'."""
    text = token.decode("utf-8", errors="replace")
    return "".join("·" if c == " " else "↵" if c == "\n" else "?" if c < " " else c for c in text)


def _char_end(block: bytes) -> int:
    """Where ``block`` can be cut without splitting a UTF-8 character: before a lead byte among its last four."""
    i = len(block) - 1
    while i > 0 and len(block) - i < 4 and block[i] & 0xC0 == 0x80:     # continuation bytes
        i -= 1
    return i if i > 0 and block[i] >= 0xC0 else len(block)


def text_chunks(stream: Path) -> Iterator[str]:
    """A byte stream as text in pieces of about 64 KB, cut after a newline (else between characters)."""
    return (text for text, _ in _pieces(stream))


def _pieces(stream: Path) -> Iterator[tuple[str, int]]:
    """:func:`text_chunks`, each with the number of bytes of the stream it came from."""
    with stream.open("rb") as f:
        carry = b""
        while block := f.read(_BLOCK):
            block = carry + block
            cut = block.rfind(b"\n") + 1 or _char_end(block)
            carry = block[cut:]
            yield block[:cut].decode("utf-8", errors="replace"), cut
        if carry:
            yield carry.decode("utf-8", errors="replace"), len(carry)


def train(train_stream: Path, vocab_size: int, out: Path, source: Path) -> Any:
    """Train a byte-level BPE of ``vocab_size`` ids on ``train_stream``, save it to ``out``; the tokenizer."""
    return train_texts(text_chunks(train_stream), vocab_size, out,
                       f"{source}: {train_stream.stat().st_size:,} bytes of training text")


def train_texts(texts: Iterable[str], vocab_size: int, out: Path, what: str) -> Any:
    """Train a byte-level BPE of ``vocab_size`` ids on ``texts``, save it to ``out``; the tokenizer.

    One line, starting with ``what`` (the source and how much text), when the text is too small to
    learn that many merges.
    """
    tokenizer, trainer = untrained(vocab_size)
    tokenizer.train_from_iterator(texts, trainer)
    got = tokenizer.get_vocab_size()
    if got < vocab_size:
        raise ValueError(f"{what} give only {got:,} BPE tokens (pairs seen at least {MIN_FREQUENCY} times); "
                         f"expected data.vocab_size = {vocab_size:,}: lower data.vocab_size, add text, or use "
                         "data.tokenizer = 'bytes'")
    atomic_write_text(out, tokenizer.to_str())
    return tokenizer


def _batches(stream: Path) -> Iterator[tuple[list[str], int]]:
    """Pieces of ``stream`` in batches of about ``_BATCH`` bytes, each with its byte count."""
    batch: list[str] = []
    size = 0
    for text, nbytes in _pieces(stream):
        batch.append(text)
        size += nbytes
        if size >= _BATCH:
            yield batch, size
            batch, size = [], 0
    if batch:
        yield batch, size


def encode(tokenizer: Any, stream: Path, out: Path, dtype: str, lengths: np.ndarray,
           progress: Callable[[int], None] = lambda _done: None) -> tuple[int, int]:
    """Encode the byte stream ``stream`` into ids of ``dtype`` at ``out``: (tokens, bytes they spell).

    ``progress`` is told the bytes of ``stream`` encoded so far after every batch.
    """
    counts = [0, 0]

    def write(f: BinaryIO) -> None:
        done = 0
        for batch, nbytes in _batches(stream):
            for enc in tokenizer.encode_batch_fast(batch, add_special_tokens=False):   # on all cores
                ids = np.asarray(enc.ids, dtype=dtype)
                f.write(ids.tobytes())
                counts[0] += len(ids)
                counts[1] += int(lengths[ids].sum())
            done += nbytes
            progress(done)

    atomic_write(out, write)
    return counts[0], counts[1]


def prepare_bpe(entry: Path, streams: dict[str, Path], vocab_size: int, source: Path,
                quiet: bool = False) -> dict[str, Any]:
    """Train the BPE on ``streams['train']``, encode every stream into ``entry``; the manifest's facts.

    What it does, with a progress line while encoding, goes to stderr unless ``quiet``. The byte streams
    are removed once encoded.
    """
    from sslterm.data.prepare import print_progress

    def say(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    started = time.monotonic()
    say(f"training a byte-level BPE of {vocab_size:,} tokens on {streams['train'].stat().st_size / 1e6:.1f} MB "
        "of training text")
    tokenizer = train(streams["train"], vocab_size, entry / TOKENIZER, source)
    lengths = token_lengths(entry / TOKENIZER)
    dtype = stream_dtype(vocab_size)
    suffix = {"uint16": "u16", "int32": "i32"}[dtype]
    facts: dict[str, Any] = {"tokenizer": "bpe", "bpe_vocab": vocab_size, "dtype": dtype, "files": {}}
    trained = time.monotonic()
    say(f"BPE trained in {trained - started:.1f} s")
    total = sum(stream.stat().st_size for stream in streams.values())
    show = print_progress("encoding with the BPE", "KB")

    def told(done: int, before: int) -> None:
        if not quiet:
            show((before + done) // 1000, total // 1000, max(time.monotonic() - trained, 1e-6))

    before = 0
    for split, stream in streams.items():
        name = f"{split}.{suffix}"
        tokens, nbytes = encode(tokenizer, stream, entry / name, dtype, lengths, partial(told, before=before))
        facts["files"][split] = name
        facts[f"{split}_tokens"], facts[f"{split}_bytes"] = tokens, nbytes
        before += stream.stat().st_size
        stream.unlink()
    took = max(time.monotonic() - trained, 1e-9)
    all_tokens = sum(facts[f"{s}_tokens"] for s in streams)
    facts["bytes_per_token"] = sum(facts[f"{s}_bytes"] for s in streams) / max(all_tokens, 1)
    say(f"encoded {total / 1e6:.1f} MB in {took:.1f} s ({total / 1e6 / took:.1f} MB/s), "
        f"{facts['bytes_per_token']:.2f} bytes per token")
    return facts
