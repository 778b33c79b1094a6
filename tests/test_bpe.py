"""A byte-level BPE trained on the training text and stored with the prepared data; bits per byte for any tokeniser."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sslterm import catalog, config
from sslterm.augment import Pipeline
from sslterm.data import Dataset, bpe, windows
from sslterm.data.text import load_text_files
from sslterm.models import build_encoder
from sslterm.objectives import Context, build_objective
from sslterm.prepared import entries
from sslterm.train.monitor import Monitor
from tests.conftest import sslterm

torch.set_num_threads(1)
WORDS = ("the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "über", "naïve", "home", "fast")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(root))
    return root


def corpus(path: Path, lines: int = 400, tail: str = "") -> bytes:
    """Lines of common words (UTF-8 among them), then ``tail`` lines of ``tail`` (held out: the file's last 10%)."""
    rng = np.random.default_rng(0)
    text = "".join(" ".join(WORDS[i] for i in rng.integers(0, len(WORDS), 8)) + "\n" for _ in range(lines))
    text += (tail + "\n") * (lines // 20 if tail else 0)
    path.write_text(text, encoding="utf-8")
    return text.encode()


def load(path: Path, **kw: Any) -> Dataset:
    return load_text_files({"seq_len": 8, "max_examples": 0, "seed": 0, "path": str(path), "tokenizer": "bpe",
                            "vocab_size": 280, **kw})


def spelled(ds: Dataset, split: str) -> bytes:
    """The bytes the ids of a split spell (BPE ids back through the stored tokenizer.json)."""
    table = bpe.token_bytes(Path(ds.info["tokenizer_file"]))
    ids = getattr(ds, split)["x"].long() & 0xFFFF
    return b"".join(table[i] for i in ids.tolist())


def test_bpe_is_trained_on_training_text_only_stored_and_spells_the_text_back(tmp_path: Path) -> None:
    text = corpus(tmp_path / "a.txt", tail="qjxv zqzq qjxv")
    ds = load(tmp_path / "a.txt")
    entry = Path(ds.info["tokenizer_file"]).parent
    manifest = json.loads((entry / "manifest.json").read_text())
    assert sorted(p.name for p in entry.iterdir()) == ["eval.u16", "manifest.json", "tokenizer.json", "train.u16"]
    assert manifest["tokenizer"] == "bpe" and manifest["dtype"] == "uint16" and manifest["options"]["vocab_size"] == 280
    assert ds.info["vocab_size"] == 282 == len(ds.info["token_bytes"]), "PAD and MASK before the BPE's ids"
    assert ds.train["x"].dtype == torch.int16
    train, held = spelled(ds, "train"), spelled(ds, "eval")
    assert train + held == text and b"qjxv" in held and b"qjxv" not in train, "every byte once, the tail held out"
    assert manifest["eval_bytes"] == len(held) and manifest["eval_tokens"] == len(ds.eval["x"]) < len(held)
    vocab = json.loads((entry / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocab) == 280 and not [t for t in vocab if "qj" in t or "zq" in t], "no merge from held-out text"
    assert any("Ã¼" in t and len(t) > 2 for t in vocab), "multi-byte characters are merged too (ü)"


def test_a_second_prepare_reuses_the_bpe_and_another_vocab_size_is_another_entry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus(tmp_path / "a.txt")
    first = load(tmp_path / "a.txt")

    def no_work(*_: object) -> None:
        raise AssertionError("trained again")

    monkeypatch.setattr(bpe, "train", no_work)
    again = load(tmp_path / "a.txt")
    assert torch.equal(again.eval["x"], first.eval["x"]) and again.info == first.info
    with pytest.raises(AssertionError, match="trained again"):
        load(tmp_path / "a.txt", vocab_size=270)


def test_windows_read_uint16_and_int32_streams_unsigned() -> None:
    stored = np.array([40000, 5, 65535], dtype=np.uint16)
    as_int16 = torch.from_numpy(stored.view(np.int16))
    assert windows(as_int16, torch.tensor([0, 2]), 2).tolist() == [[40002, 7], [65537, 0]]
    assert windows(torch.tensor([70000, 1], dtype=torch.int32), torch.tensor([0]), 2).tolist() == [[70002, 3]]
    assert bpe.stream_dtype(65535) == "uint16" and bpe.stream_dtype(65536) == "int32"


@pytest.mark.parametrize(("kw", "message"), [
    ({"vocab_size": 100}, r"data.vocab_size = 100: expected 257\.\.262144"),
    ({"vocab_size": 5000}, r"give only [\d,]+ BPE tokens .*expected data.vocab_size = 5,000: lower data.vocab_size"),
    ({"tokenizer": "words"}, "data.tokenizer = 'words': expected one of bytes, bpe"),
    ({"missing": True}, r"needs the tokenizers package: pip install 'sslterm\[data\]'"),
])
def test_refusals_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kw: dict[str, Any],
                               message: str) -> None:
    corpus(tmp_path / "a.txt", lines=60)
    if kw.pop("missing", False):
        monkeypatch.setitem(sys.modules, "tokenizers", None)            # import tokenizers raises ImportError
    with pytest.raises(ValueError, match=message) as err:
        load(tmp_path / "a.txt", **kw)
    assert "\n" not in str(err.value)
    assert not entries(), "nothing half-made is left behind"


@pytest.mark.parametrize("tokenizer", ["bytes", "bpe"])
def test_held_out_bits_per_byte_by_hand(tmp_path: Path, tokenizer: str) -> None:
    """A unigram model (head weights 0, bias log p): Σ −log2 p over held-out tokens 1..T−1 / the bytes they spell."""
    corpus(tmp_path / "a.txt")
    data = load(tmp_path / "a.txt", seq_len=12, tokenizer=tokenizer)
    vocab = int(data.info["vocab_size"])
    torch.manual_seed(0)
    enc = build_encoder("transformer", data.info, {"dim": 16, "depth": 1, "heads": 2})
    opts = {**catalog.get("objective", "next_token").defaults(), "head_hidden": 0}
    obj = build_objective("next_token", Context(enc, data.info, 16, 8), opts).eval()
    logp = torch.log_softmax(torch.randn(vocab, generator=torch.Generator().manual_seed(7)), 0)
    head = obj.head
    assert isinstance(head, torch.nn.Linear)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(logp)
    ids = ((data.eval["x"].long() & 0xFFFF) + 2).tolist()                    # every held-out token
    lengths = data.info.get("token_bytes") or [0, 0] + [1] * 256
    hand = sum(-float(logp[t]) / math.log(2) for t in ids[1:]) / sum(lengths[t] for t in ids[1:])
    exp = config.from_overrides(["data.modality=text", "objective.name=next_token", "train.batch_size=5",
                                 "eval.max_examples=100000"])
    got = Monitor(exp, data, obj, Pipeline({}), torch.device("cpu")).evaluate()
    assert data.size("eval") > 5, "several held-out batches, each weighted by its bytes"
    assert float(got["eval_bits_per_byte"]) == pytest.approx(hand, rel=1e-5)
    per_token = sum(-float(logp[t]) / math.log(2) for t in ids[1:]) / len(ids[1:])
    assert float(got["eval_bits_per_token"]) == pytest.approx(per_token, rel=1e-5)


def test_a_two_step_bpe_run_from_the_command_line_reports_bits_per_byte(tmp_path: Path) -> None:
    corpus(tmp_path / "a.txt")
    runs = tmp_path / "runs"
    sets = ["data.path=" + str(tmp_path / "a.txt"), "data.tokenizer=bpe", "data.vocab_size=280", "data.seq_len=16",
            "model.dim=16", "model.depth=1", "model.heads=2", "train.steps=2", "train.log_every=1", "eval.every=2",
            "train.batch_size=8", "eval.max_examples=32", "train.threads=1"]
    proc = sslterm("run", "-m", "text", "-o", "next_token", *[a for kv in sets for a in ("--set", kv)], runs=runs)
    assert proc.returncode == 0, proc.stderr
    (run,) = runs.iterdir()
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 2 and 0 < last["eval_bits_per_byte"] < last["eval_bits_per_token"]
    assert "training a byte-level BPE of 280 tokens" in (run / "worker.log").read_text()


def test_data_prepare_and_ls_show_the_tokeniser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sslterm.data_cli import ls_cmd, prepare_cmd

    corpus(tmp_path / "a.txt")
    prepare_cmd(tmp_path / "a.txt", tokenizer="bpe", vocab_size=280)         # as `sslterm data prepare` calls it
    assert "[bpe 280 tokens, " in capsys.readouterr().out
    load(tmp_path / "a.txt", tokenizer="bytes")
    ls_cmd(False)
    table = capsys.readouterr().out
    assert "[bpe 280 tokens, " in table and "[bytes]" in table
    ls_cmd(True)
    listed = json.loads(capsys.readouterr().out)
    assert sorted((e["tokenizer"], e["vocab_size"]) for e in listed) == [("bpe", 282), ("bytes", 258)]


def test_the_launcher_preview_shows_bpe_tokens(tmp_path: Path) -> None:
    from sslterm.preview.server import PreviewServer
    from sslterm.tui.widgets.preview_draw import token_text

    corpus(tmp_path / "a.txt")
    data = {"modality": "text", "path": str(tmp_path / "a.txt"), "tokenizer": "bpe", "vocab_size": 280, "seq_len": 24}
    answer = PreviewServer().preview({"data": data, "augment": {}}, 2, 0)
    original = answer["samples"][0]["original"]
    assert original["bounds"] and max(len(t) for t in original["tokens"]) > 2, "tokens of several characters"
    assert len(original["tokens"]) == 24 and set("".join(original["tokens"])) <= set("".join(WORDS) + "·↵")
    drawn = token_text(original)
    assert drawn.plain == "".join(original["tokens"]) and any(span.style == "underline" for span in drawn.spans)


def test_text_is_cut_into_pieces_between_characters(tmp_path: Path) -> None:
    text = "a" + "é" * 70_000 + "\n" + "ab€" * 30_000            # a 140 KB line, then 90 KB, without newlines
    (tmp_path / "s.u8").write_bytes(text.encode())
    pieces = list(bpe.text_chunks(tmp_path / "s.u8"))
    assert len(pieces) > 2 and "".join(pieces) == text, "no character split, none lost"
