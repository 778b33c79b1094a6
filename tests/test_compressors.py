"""benchmarks/compressors: held-out bits per byte of compressors conditioned on the training text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from benchmarks.compressors import COMPRESSORS, compressor_bits, conditional_bits, lm_experiment, split_text


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
