"""Text prepared once into memory-mapped byte streams: held-out documents, windows, reuse and rebuild."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from sslterm import config
from sslterm.data import Dataset, windows
from sslterm.data.text import load_text_files
from sslterm.data.tokens import EVAL, TRAIN, prepare_text
from sslterm.prepared import entries
from sslterm.store import create_run
from sslterm.train.loop import train
from tests.conftest import TINY


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(root))
    return root


def load(path: Path, **kw: Any) -> Dataset:
    return load_text_files({"seq_len": 8, "max_examples": 0, "seed": 0, "path": str(path), **kw})


def streams(ds: Dataset) -> tuple[bytes, bytes]:
    return bytes(ds.train["x"].tolist()), bytes(ds.eval["x"].tolist())


def test_one_file_holds_out_its_tail_from_a_line_start(tmp_path: Path) -> None:
    text = "".join(f"line {i} of the only document\n" for i in range(40)).encode()
    (tmp_path / "a.txt").write_bytes(text)
    ds = load(tmp_path / "a.txt")
    train, held = streams(ds)
    assert train + held == text, "every byte once, training text first"
    assert 0.05 * len(text) < len(held) <= 0.1 * len(text) + 40 and held.startswith(b"line ")
    assert ds.y_train is None and ds.info == {"vocab_size": 258, "seq_len": 8, "num_classes": 0,
                                              "bytes_per_token": 1.0}


def test_many_documents_hold_out_whole_documents(tmp_path: Path) -> None:
    docs = {}
    for i in range(25):
        f = tmp_path / f"doc{i}.txt"                              # class subfolders would make labelled rows
        docs[f] = f"document {i}: " + "words " * (i + 1)        # no final newline: one is added
        f.write_text(docs[f])
    (tmp_path / ".hidden.txt").write_text("never read")
    train, held = streams(load(tmp_path))
    held_docs = [d for d in docs.values() if (d + "\n").encode() in held]
    assert len(held_docs) == round(25 * 0.1)
    assert all((d + "\n").encode() in train for d in docs.values() if d not in held_docs)
    assert all(d.encode() not in train for d in held_docs), "no line of a held-out document is trained on"
    assert len(train) + len(held) == sum(len(d) + 1 for d in docs.values()) and b"never" not in train + held


def test_jsonl_records_are_documents(tmp_path: Path) -> None:
    lines = [json.dumps({"id": i, "body": f"record {i} says héllo"}) for i in range(30)]
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n\n")
    train, held = streams(load(tmp_path / "c.jsonl", text_field="body"))
    assert held.count(b"\n") == 3 and train.count(b"\n") == 27
    assert "héllo".encode() in held
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"body": 1}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl: line 2 has no text field 'text'; expected") as err:
        load(tmp_path / "bad.jsonl")
    assert "\n" not in str(err.value)


def test_data_format_decides_how_a_file_is_read_whatever_its_suffix(tmp_path: Path) -> None:
    lines = [json.dumps({"text": f"record {i}"}) for i in range(30)]
    (tmp_path / "c.log").write_text("\n".join(lines) + "\n")
    train, held = streams(load(tmp_path / "c.log", format="jsonl"))     # records, not JSON text
    assert b"{" not in train + held and held.count(b"\n") == 3
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    train, held = streams(load(tmp_path / "d.jsonl", format="text_files"))   # one plain-text document
    assert b'{"text": "record 0"}' in train + held


def test_windows_cross_document_boundaries_and_held_out_windows_cover_every_byte(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("".join(f"{i:03d}\n" for i in range(100)))
    ds = load(tmp_path / "a.txt", seq_len=8)
    train, held = streams(ds)
    assert len(ds) == len(train) - 8 + 1 and ds.size("eval") == math.ceil((len(held) - 1) / 7)
    idx = torch.tensor([0, 3, len(ds) - 1])
    x = ds.batch("train", idx)["x"]
    assert x.dtype == torch.int64 and x.shape == (3, 8)
    assert [bytes((x[r] - 2).tolist()) for r in range(3)] == [train[s:s + 8] for s in idx.tolist()]
    ev = ds.batch("eval", torch.arange(ds.size("eval")))["x"]
    assert bytes((ev[0, :1] - 2).tolist()) == held[:1]
    targets = ev[:, 1:].flatten()                              # what next-token prediction is scored on
    assert bytes((targets[targets != 0] - 2).tolist()) == held[1:], "every held-out byte but the first, once"
    assert torch.equal(ev[1:, 0], ev[:-1, -1]), "each window starts with the previous one's last token"
    assert (ev[-1] == 0).sum() == ds.size("eval") * 7 + 1 - len(held), "PAD only after the last byte"
    assert windows(torch.tensor([7, 8], dtype=torch.uint8), torch.tensor([1]), 3).tolist() == [[10, 0, 0]]
    small = ds.to(torch.device("cpu"), train=False, eval_rows=2)
    assert small.size("eval") == 2 and torch.equal(small.batch("eval", torch.arange(2))["x"], ev[:2])


def test_prepared_once_reused_and_rebuilt_when_the_source_changes(tmp_path: Path, cache: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text("first version of the text\n" * 20)
    entry, manifest = prepare_text(src)
    stamp = (entry / TRAIN).stat().st_mtime_ns
    assert prepare_text(src) == (entry, manifest) and (entry / TRAIN).stat().st_mtime_ns == stamp, "reused"
    assert manifest["fingerprint"]["files"] == 1 and manifest["train_bytes"] + manifest["eval_bytes"] == 26 * 20
    with src.open("a") as f:
        f.write("an added line\n")
    entry2, manifest2 = prepare_text(src)
    assert entry2 == entry and manifest2["fingerprint"] != manifest["fingerprint"]
    assert (entry / TRAIN).read_bytes() + (entry / EVAL).read_bytes() == src.read_bytes()
    [listed] = entries()
    assert listed.kind == "text" and listed.finished and listed.source == str(src.resolve())
    assert listed.path.parent == cache


def test_stream_is_memory_mapped_not_read(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("some text to map\n" * 200)
    ds = load(tmp_path / "a.txt")
    if not Path("/proc/self/maps").exists():
        pytest.skip("needs Linux's /proc/self/maps")
    [entry] = entries()
    start = ds.train["x"].data_ptr()
    maps = [line.split() for line in Path("/proc/self/maps").read_text().splitlines()]
    files = [m[5] for m in maps if len(m) > 5 and int(m[0].split("-")[0], 16) <= start < int(m[0].split("-")[1], 16)]
    assert files == [str(entry.path / TRAIN)], "the training stream is a mapping of the prepared file"


@pytest.mark.parametrize("bad", ["empty", "nul", "tiny"])
def test_bad_text_is_one_line(tmp_path: Path, bad: str) -> None:
    f = tmp_path / "t.txt"
    f.write_bytes({"empty": b"", "nul": b"ab\x00cd\n", "tiny": b"abc\n"}[bad])
    message = {"empty": "holds no text", "nul": "NUL", "tiny": "lower data.seq_len"}[bad]
    with pytest.raises(ValueError, match=message) as err:
        load(f)
    assert str(f) in str(err.value) and "\n" not in str(err.value)


def tiny_text(path: Path, *extra: str) -> config.Experiment:
    general = [kv for kv in TINY if kv.startswith(("train.", "eval."))]
    return config.from_overrides([*general, "data.modality=text", "objective.name=next_token", f"data.path={path}",
                                  "data.seq_len=16", "model.encoder=transformer", "model.dim=16", "model.depth=1",
                                  "model.heads=2", "train.steps=3", "train.log_every=1", "eval.every=3",
                                  "eval.max_examples=16", *extra])


def test_next_token_trains_on_windows_resident_or_streamed_alike(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("".join(f"the {i} cat sat on mat {i % 7}\n" for i in range(300)))
    out = []
    for name, extra in (("resident", ()), ("streamed", ("data.on_device=false", "data.workers=1"))):
        run = create_run(tmp_path / "runs", name)
        train(tiny_text(tmp_path / "a.txt", *extra), run, lambda: False, lambda step, device: None)
        out.append([{k: v for k, v in r.items() if k not in ("t", "time", "samples_per_s")} for r in run.metrics()])
    assert out[0] == out[1], "the same windows per step either way"
    last = out[0][-1]
    assert math.isfinite(last["loss"]) and last["eval_bits_per_byte"] == pytest.approx(last["eval_bits_per_token"])
    assert len([e for e in entries() if e.kind == "text"]) == 1, "both runs share one prepared entry"
    assert not os.environ.get("SSLTERM_DATA_CACHE", "").startswith(str(Path.home() / ".cache"))
