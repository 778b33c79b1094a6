"""Labelled text folders under a BPE: split first, the BPE trained on training lines only, lines cut to seq_len."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sslterm.data import Dataset, bpe, labelled_bpe
from sslterm.data.text import OFFSET, PAD, load_text_files
from tests.conftest import sslterm

torch.set_num_threads(1)
WORDS = {"cats": ("whiskers", "purr", "mouse", "nap", "sofa"), "dogs": ("bark", "fetch", "bone", "walk", "leash")}


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(root))
    return root


def folder(root: Path, lines: int = 60) -> dict[str, list[str]]:
    """Two class folders of ``lines`` lines each; every line carries its own word (``uNNN``) after common ones."""
    rng = np.random.default_rng(0)
    out: dict[str, list[str]] = {}
    for c, words in WORDS.items():
        rows = [" ".join(words[i] for i in rng.integers(0, len(words), 6)) + f" u{c[0]}{n:03d}" for n in range(lines)]
        (root / c).mkdir(parents=True)
        (root / c / "lines.txt").write_text("\n".join(rows) + "\n\n   \n", encoding="utf-8")   # blank lines: skipped
        out[c] = rows
    return out


def load(root: Path, **kw: Any) -> Dataset:
    return load_text_files({"seq_len": 64, "max_examples": 0, "seed": 0, "path": str(root), "tokenizer": "bpe",
                            "vocab_size": 300, **kw})


def lines_of(ds: Dataset, split: str) -> list[tuple[str, str]]:
    """Each example of a split as (its text, its class), spelled back through the stored tokenizer.json."""
    table = bpe.token_bytes(Path(ds.info["tokenizer_file"]))
    x, y = getattr(ds, split)["x"], ds.y_train if split == "train" else ds.y_eval
    assert y is not None
    return [(b"".join(table[t - OFFSET] for t in row if t != PAD).decode(), ds.classes[int(c)])
            for row, c in zip(x.tolist(), y.tolist(), strict=True)]


def test_lines_are_split_before_the_bpe_learns_and_spell_back_with_their_class(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = folder(tmp_path / "data")
    seen: list[list[str]] = []
    train_texts = labelled_bpe.train_texts

    def spy(texts: Any, *args: Any) -> Any:
        seen.append(list(texts))
        return train_texts(seen[-1], *args)

    monkeypatch.setattr(labelled_bpe, "train_texts", spy)
    ds = load(tmp_path / "data")
    train, held = lines_of(ds, "train"), lines_of(ds, "eval")
    assert len(held) == 12 and len(train) == 108                       # 10% of 120 lines held out
    assert sorted(train + held) == sorted((r, c) for c, rows in written.items() for r in rows)
    assert len(seen) == 1 and sorted(seen[0]) == sorted(t for t, _ in train)   # the held-out lines never taught it
    assert not {t for t, _ in held} & set(seen[0])
    assert ds.info["vocab_size"] == 300 + OFFSET and ds.info["tokenizer"] == "bpe"
    assert ds.info["token_bytes"][OFFSET:] == tuple(len(b) for b in bpe.token_bytes(Path(ds.info["tokenizer_file"])))
    assert ds.info["bytes_per_token"] > 1.5 and ds.info["seq_len"] == ds.train["x"].shape[1] <= 64
    again = load(tmp_path / "data")                                  # prepared once: read back, not retrained
    assert len(seen) == 1 and torch.equal(again.train["x"], ds.train["x"])


def test_long_lines_are_cut_into_examples_of_their_class_and_max_examples_counts_lines(tmp_path: Path) -> None:
    folder(tmp_path / "data")
    ds = load(tmp_path / "data", seq_len=4)
    x = ds.train["x"]
    assert x.shape[1] == 4 and bool((x[:, 0] != PAD).all())
    whole = load(tmp_path / "data")
    assert len(ds.train["x"]) > 2 * len(whole.train["x"])            # every line is several 4-token pieces
    pieces = {}
    for text, c in lines_of(ds, "train"):
        pieces[c] = pieces.get(c, "") + text
    joined = {c: "".join(t for t, k in lines_of(whole, "train") if k == c) for c in WORDS}
    assert pieces == joined                                        # the pieces spell the lines, in order
    few = load(tmp_path / "data", max_examples=30)
    assert (len(lines_of(few, "train")), len(lines_of(few, "eval"))) == (27, 3)
    assert set(lines_of(few, "eval")) <= set(lines_of(whole, "eval")), "held out at any limit"
    assert set(lines_of(few, "train")) <= set(lines_of(whole, "train"))


def test_a_changed_file_is_prepared_again_and_too_large_a_vocabulary_is_one_line(tmp_path: Path, cache: Path) -> None:
    written = folder(tmp_path / "data")
    load(tmp_path / "data")
    (tmp_path / "data" / "cats" / "lines.txt").write_text("\n".join(written["cats"][:40]) + "\n")
    ds = load(tmp_path / "data")
    assert len(lines_of(ds, "train")) + len(lines_of(ds, "eval")) == 100
    with pytest.raises(ValueError) as e:
        load(tmp_path / "data", vocab_size=50_000)
    assert "data.vocab_size" in str(e.value) and "training lines" in str(e.value) and "\n" not in str(e.value)
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1        # the refused one left nothing behind
    with pytest.raises(ValueError) as e:
        load(tmp_path / "data", max_examples=1)
    said = str(e.value)
    assert str(tmp_path / "data") in said and "data.max_examples = 1" in said and "\n" not in said


def test_the_derived_seq_len_counts_bpe_tokens_on_a_labelled_folder(tmp_path: Path) -> None:
    from sslterm import autoscan, config

    folder(tmp_path / "data")
    sets = ["data.modality=text", f"data.path={tmp_path / 'data'}", "data.vocab_size=300"]
    as_bytes = autoscan.settle(config.from_overrides(sets))
    as_bpe = autoscan.settle(config.from_overrides([*sets, "data.tokenizer=bpe"]))
    assert "BPE tokens" in as_bpe.auto["data.seq_len"] and "BPE" not in as_bytes.auto["data.seq_len"]
    assert as_bpe.data.options["seq_len"] < as_bytes.data.options["seq_len"]


def test_a_two_step_run_on_a_labelled_folder_under_a_bpe_probes_its_classes(tmp_path: Path) -> None:
    folder(tmp_path / "data")
    runs = tmp_path / "runs"
    sets = ["data.path=" + str(tmp_path / "data"), "data.tokenizer=bpe", "data.vocab_size=300", "model.dim=16",
            "model.depth=1", "model.heads=2", "train.steps=2", "train.log_every=1", "eval.every=2",
            "train.batch_size=8", "eval.max_examples=32", "train.threads=1"]
    proc = sslterm("run", "-m", "text", "-o", "infonce", *[a for kv in sets for a in ("--set", kv)], runs=runs)
    assert proc.returncode == 0, proc.stderr
    (run,) = runs.iterdir()
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 2 and 0 <= last["knn_acc"] <= 1
    assert "preparing labelled text" in (run / "worker.log").read_text()


def test_data_prepare_makes_the_entry_a_run_then_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from typer.testing import CliRunner

    from sslterm.cli import app

    folder(tmp_path / "data")
    got = CliRunner().invoke(app, ["data", "prepare", str(tmp_path / "data"), "--kind", "text", "--tokenizer", "bpe",
                                   "--vocab-size", "300"])
    assert got.exit_code == 0, got.output
    assert "120 labelled lines (108 training the BPE)" in got.output and "[bpe 300 tokens" in got.output
    monkeypatch.setattr(labelled_bpe, "train_texts", lambda *a: pytest.fail("prepared again"))
    assert len(load(tmp_path / "data").eval["x"]) == 12
    assert len(load(tmp_path / "data", max_examples=20).eval["x"]) == 2     # the preview's few lines: same entry


def test_the_launcher_preview_names_a_labelled_lines_bpe_tokens(tmp_path: Path) -> None:
    from sslterm.preview.server import PreviewServer

    written = folder(tmp_path / "data")
    data = {"modality": "text", "path": str(tmp_path / "data"), "tokenizer": "bpe", "vocab_size": 300, "seq_len": 64}
    answer = PreviewServer().preview({"data": data, "augment": {}}, 2, 0)
    original = answer["samples"][0]["original"]
    assert original["bounds"] and max(len(t) for t in original["tokens"]) > 2, "tokens of several characters"
    shown = "".join(original["tokens"]).replace("·", " ")
    assert shown in {r for rows in written.values() for r in rows}, shown     # one whole line, spelled back


def test_data_prepare_of_a_labelled_folder_with_bytes_says_what_it_makes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sslterm.cli import app

    folder(tmp_path / "data")
    got = CliRunner().invoke(app, ["data", "prepare", str(tmp_path / "data"), "--kind", "text"])
    assert got.exit_code == 0, got.output
    assert "class subfolders" in got.output and "data.labels = 'none'" in got.output
