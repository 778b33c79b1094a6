"""benchmarks/compressors: held-out bits per byte of compressors conditioned on the training text."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch

from benchmarks.compressors import (
    COMPRESSORS,
    compressor_bits,
    conditional_bits,
    lm_experiment,
    split_text,
    strided_bits,
)
from sslterm.models.text import TextTransformer
from sslterm.objectives import Context
from sslterm.objectives.next_token import NextToken, token_byte_table


def test_conditional_bits_is_the_formula() -> None:
    doubled = {b"ab": b"xxxx", b"abcde": b"yyyyyyyyyy"}           # |C(train)| = 4, |C(train + test)| = 10
    assert conditional_bits(doubled.__getitem__, b"ab", b"cde") == pytest.approx(8 * (10 - 4) / 3)
    assert conditional_bits(lambda b: b, b"abc", b"de") == 8.0      # storing bytes costs 8 bits each
    with pytest.raises(ValueError, match="empty"):
        conditional_bits(lambda b: b, b"abc", b"")


def test_training_text_conditions_every_compressor() -> None:
    rng = random.Random(0)
    seen = bytes(rng.randrange(256) for _ in range(3000))
    fresh = bytes(rng.randrange(256) for _ in range(3000))
    for name, bits in compressor_bits(seen, seen).items():       # held-out text that repeats the training text
        assert bits < 2.0, name
    for name, bits in compressor_bits(seen, fresh).items():      # random bytes cannot be compressed
        assert bits > 7.5, name
    assert set(COMPRESSORS) == {"gzip -9", "bzip2 -9", "xz -9e"}


def test_text_is_split_as_runs_split_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(12):
        (docs / f"d{i:02d}.txt").write_text(f"document {i}\n" * 30)
    train, held, manifest = split_text(docs)
    assert manifest["held_out"] == "whole documents" and held and train
    assert len(train) + len(held) == sum(f.stat().st_size for f in docs.iterdir())
    exp = lm_experiment(docs, steps=3)
    assert exp.objective.name == "next_token" and exp.augment == {} and exp.eval.every == 3


def tiny_model(window: int) -> NextToken:
    torch.manual_seed(0)
    info = {"vocab_size": 258, "bytes_per_token": 1.0}
    model = NextToken(Context(TextTransformer(258, window, dim=8, depth=1, heads=2), info))
    for p in model.parameters():                    # weights large enough that context changes the predictions
        torch.nn.init.normal_(p, std=0.5)
    return model


# where each held-out token is scored (position → window start), written out by hand: 9 tokens, windows of 4
PLACES = {
    2: {1: 0, 2: 0, 3: 0, 4: 2, 5: 2, 6: 4, 7: 4, 8: 6},      # the last 2 of each later window (≥ 2 tokens before)
    3: {1: 0, 2: 0, 3: 0, 4: 3, 5: 3, 6: 3, 7: 6, 8: 6},      # fresh windows, 3 apart, sharing one token
    1: {1: 0, 2: 0, 3: 0, 4: 1, 5: 2, 6: 3, 7: 4, 8: 5},      # every token after the first 3 with 3 before it
}


@pytest.mark.parametrize("stride", sorted(PLACES))
def test_strided_evaluation_is_the_hand_computation(stride: int) -> None:
    window, model = 4, tiny_model(4)
    stream = torch.tensor(list(b"abcabcabd"), dtype=torch.uint8)
    ids = stream.long() + 2
    spells = torch.arange(258) % 3 + 1.0                    # a BPE-like table: tokens spell 1 to 3 bytes
    spells[:2] = 0
    bits = 8 * float(spells[ids[0]])                        # the first token, with nothing before it, stored raw
    with torch.no_grad():
        for position, start in PLACES[stride].items():
            x = ids[start:start + window][None]
            logits = model.head(model.encoder.tokens(x, causal=True))[0, position - start - 1]
            bits -= float(torch.log_softmax(logits, 0)[ids[position]]) / math.log(2)
    got = strided_bits(model, stream, window, stride, spells, batch_size=2)
    assert got["bytes"] == float(spells[ids].sum())         # every held-out byte exactly once
    assert got["tokens_scored"] == 8 and got["windows"] == len(set(PLACES[stride].values()))
    assert got["bits_per_byte"] == pytest.approx(bits / float(spells[ids].sum()), rel=1e-5)


def test_strided_evaluation_of_bytes_counts_every_byte() -> None:
    model = tiny_model(4)
    table = token_byte_table({"vocab_size": 258, "bytes_per_token": 1.0})
    assert table is not None
    for length in (1, 3, 4, 5, 37):
        stream = torch.randint(0, 256, (length,), generator=torch.Generator().manual_seed(length)).to(torch.uint8)
        for stride in (1, 2, 3):
            got = strided_bits(model, stream, 4, stride, table)
            assert got["bytes"] == length and got["tokens_scored"] == length - 1
    with pytest.raises(ValueError, match="stride"):
        strided_bits(model, stream, 4, 4, table)
