"""Parquet files and Hugging Face save_to_disk folders as image and text sources, built here with pyarrow alone."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from sslterm import config
from sslterm.data import build_dataset
from sslterm.data.prepare import prepare_images
from tests.conftest import sslterm
from tests.test_webdataset import png

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
NAMES = ["cat", "dog", "eel"]


def table(reds: range, struct: bool = True, labels: list[object] | None = None) -> Any:
    """Rows whose image is red = the given value, as HF's Image struct (or plain binary), labelled red % 3."""
    images = [{"bytes": png(r), "path": f"{r}.png"} for r in reds] if struct else [png(r) for r in reds]
    columns = {"image": pa.array(images, type=IMAGE if struct else pa.binary()),
               "label": pa.array(labels if labels is not None else [r % 3 for r in reds])}
    return pa.table(columns)


def write_hf_split(folder: Path, t: Any, names: list[str] | None = NAMES) -> Path:
    """One split as save_to_disk writes it: an Arrow IPC stream, dataset_info.json (ClassLabel names), state.json."""
    folder.mkdir(parents=True)
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink, pa.ipc.new_stream(sink, t.schema) as w:
        for batch in t.to_batches(max_chunksize=7):
            w.write_batch(batch)
    features = {"image": {"_type": "Image"},
                "label": {"names": names, "_type": "ClassLabel"} if names else {"dtype": "int64", "_type": "Value"}}
    (folder / "dataset_info.json").write_text(json.dumps({"features": features}))
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}],
                                                   "_split": folder.name}))
    return folder


def options(path: Path | str, **kw: object) -> dict[str, object]:
    return {"path": str(path), "image_size": 8, "max_examples": 0, "seed": 0, "format": "auto",
            "image_column": "image", "label_column": "label", **kw}


def reds(x: torch.Tensor) -> list[int]:
    return sorted((x[:, 0, 0, 0].double() / 10).round().long().tolist())


def test_parquet_file_folder_and_glob(tmp_path: Path) -> None:
    (tmp_path / "pq").mkdir()
    pq.write_table(table(range(0, 100, 10)), tmp_path / "pq" / "a.parquet", row_group_size=4)
    pq.write_table(table(range(100, 200, 10)), tmp_path / "pq" / "b.parquet")
    one = build_dataset("image_files", options(tmp_path / "pq" / "a.parquet"))
    assert one.size("train") + one.size("eval") == 10 and one.classes == ("0", "1", "2")
    both = build_dataset("image_files", options(tmp_path / "pq"))
    assert reds(torch.cat([both.train["x"], both.eval["x"]])) == list(range(20)), "every row once, decoded"
    assert both.y_train is not None and both.y_eval is not None
    glob = config.from_overrides([f"data.path={tmp_path / 'pq' / '*.parquet'}", "data.image_size=8"])
    assert glob.data.dataset == "image_files"
    assert build_dataset("image_files", glob.data.options).size("train") == both.size("train")


def test_hf_split_with_class_names_and_plain_binary(tmp_path: Path) -> None:
    write_hf_split(tmp_path / "hf", table(range(0, 150, 10), struct=False))
    d = build_dataset("image_files", options(tmp_path / "hf"))
    assert d.classes == tuple(NAMES), "names from the ClassLabel feature, in its order"
    x = torch.cat([d.train["x"], d.eval["x"]])
    assert d.y_train is not None and d.y_eval is not None
    y = torch.cat([d.y_train, d.y_eval])
    assert torch.equal(y, (x[:, 0, 0, 0].double() / 10).round().long() % 3)


def test_hf_dataset_dict_holds_out_its_validation_split(tmp_path: Path) -> None:
    root = tmp_path / "dd"
    write_hf_split(root / "train", table(range(0, 120, 10)))
    write_hf_split(root / "validation", table(range(200, 250, 10)))
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "validation"]}))
    d = build_dataset("image_files", options(root))
    assert reds(d.eval["x"]) == list(range(20, 25)) and reds(d.train["x"]) == list(range(12))


def test_missing_column_and_bad_rows(tmp_path: Path) -> None:
    rows = table(range(0, 200, 10))
    pq.write_table(rows.rename_columns(["picture", "label"]), tmp_path / "a.parquet")
    with pytest.raises(ValueError, match=r"no column 'image' \(columns: picture, label\); expected a column of "
                                         r"encoded images \(set data.image_column\)"):
        build_dataset("image_files", options(tmp_path / "a.parquet"))
    images = [{"bytes": b"not an image", "path": None}, None, *rows.column("image").to_pylist()[2:]]
    pq.write_table(pa.table({"image": pa.array(images, type=IMAGE), "label": rows.column("label")}),
                   tmp_path / "b.parquet")
    _, manifest = prepare_images(tmp_path / "b.parquet", 8, max_bad=0.2, workers=1)
    assert manifest["counts"]["bad"] == 2 and sorted(manifest["bad_files"]) == ["b.parquet:0", "b.parquet:1"]
    assert manifest["counts"]["train"] + manifest["counts"]["eval"] == 18


def test_changed_parquet_is_prepared_again(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(table(range(0, 100, 10)), path)
    first, _ = prepare_images(path, 8, workers=1)
    before = reds(build_dataset("image_files", options(path)).train["x"])
    pq.write_table(table(range(100, 200, 10)), path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    again, _ = prepare_images(path, 8, workers=1)
    assert again == first and reds(build_dataset("image_files", options(path)).train["x"]) != before


def test_text_from_parquet_and_hf(tmp_path: Path) -> None:
    docs = [f"document {i} says hello\n" for i in range(12)]
    pq.write_table(pa.table({"text": docs, "n": list(range(12))}), tmp_path / "t.parquet")
    opts = {"path": str(tmp_path / "t.parquet"), "seq_len": 8, "max_examples": 0, "seed": 0, "text_field": "text",
            "format": "auto"}
    d = build_dataset("text_files", opts)
    stream = bytes(torch.cat([d.train["x"], d.eval["x"]]).tolist())
    assert sorted(stream.decode().splitlines()) == sorted(s.strip() for s in docs), "each row one document"
    write_hf_split(tmp_path / "hf", pa.table({"text": docs}), names=None)
    assert build_dataset("text_files", {**opts, "path": str(tmp_path / "hf")}).size("train") == d.size("train")
    with pytest.raises(ValueError, match=r"no column 'body' \(columns: text, n\).*set data.text_field"):
        build_dataset("text_files", {**opts, "text_field": "body", "seed": 1})


def test_without_pyarrow_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pq.write_table(table(range(0, 40, 10)), tmp_path / "a.parquet")
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ValueError, match=r"a\.parquet: reading Parquet needs pyarrow: pip install 'sslterm\[data\]'$"):
        build_dataset("image_files", options(tmp_path / "a.parquet"))


TINY_OWN = ("model.width=4", "model.stages=2", "model.projector_hidden=16", "model.projector_dim=8",
            "train.batch_size=4", "train.steps=2", "train.log_every=1", "train.snapshot_every=2",
            "train.checkpoint_every=2", "train.threads=1", "train.warmup_steps=1", "eval.probe_batch=2",
            "eval.every=0")


def test_two_steps_from_parquet_and_hf_text(tmp_path: Path, runs: Path) -> None:
    pq.write_table(table(range(0, 200, 10)), tmp_path / "a.parquet")
    sets = [a for kv in (f"data.path={tmp_path / 'a.parquet'}", "data.image_size=16", *TINY_OWN) for a in ("--set", kv)]
    proc = sslterm("run", *sets, runs=runs, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    write_hf_split(tmp_path / "hf", pa.table({"text": [f"line {i} of some text\n" * 3 for i in range(12)]}),
                   names=None)
    text = ["data.modality=text", f"data.path={tmp_path / 'hf'}", "data.seq_len=16", "model.dim=16", "model.depth=1",
            "model.heads=2", "model.projector_hidden=16", "model.projector_dim=8", "train.batch_size=4",
            "train.steps=2", "train.log_every=1", "train.threads=1", "train.warmup_steps=1", "eval.probe_batch=2",
            "eval.every=0"]
    proc = sslterm("run", *[a for kv in text for a in ("--set", kv)], runs=runs, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_a_parquet_path_previews(tmp_path: Path) -> None:
    from sslterm.preview.server import PreviewServer

    pq.write_table(table(range(0, 200, 10)), tmp_path / "a.parquet")
    experiment = {"data": {"path": str(tmp_path / "a.parquet"), "image_size": 8}}
    answer = PreviewServer().answer_line(json.dumps({"id": 1, "experiment": experiment, "samples": 2}))
    assert "error" not in answer and answer["modality"] == "image", answer
    for sample in answer["samples"]:
        assert sample["label"] in ("0", "1", "2") and sample["original"]["kind"] == "image"
        assert sample["original"]["rgb"][0][0][0] % 10 == 0, "a red of 10 k, decoded from its row"


def test_data_prepare_takes_a_parquet_glob_of_images(tmp_path: Path) -> None:
    pq.write_table(table(range(0, 200, 10)), tmp_path / "a.parquet")
    proc = sslterm("data", "prepare", str(tmp_path / "*.parquet"), "--image-size", "8", "--workers", "1",
                   runs=tmp_path / "runs")
    assert proc.returncode == 0 and "18 training and 2 held-out images of 8x8, 3 classes" in proc.stdout, proc.stderr


def test_a_real_save_to_disk_dataset_dict(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=NAMES)})

    def split(reds: range) -> object:
        images = [Image.new("RGB", (12, 10), (r, 7, 9)) for r in reds]
        return datasets.Dataset.from_dict({"image": images, "label": [r % 3 for r in reds]}, features=features)

    dd = datasets.DatasetDict({"train": split(range(0, 120, 10)), "test": split(range(200, 240, 10))})
    dd.save_to_disk(str(tmp_path / "dd"))
    d = build_dataset("image_files", options(tmp_path / "dd"))
    assert d.classes == tuple(NAMES) and reds(d.eval["x"]) == list(range(20, 24))
    assert reds(d.train["x"]) == list(range(12))


def test_an_unlabelled_test_split_is_not_held_out(tmp_path: Path) -> None:
    root = tmp_path / "dd"
    write_hf_split(root / "train", table(range(0, 200, 10)))
    write_hf_split(root / "test", table(range(200, 250, 10), labels=[-1] * 5))
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    d = build_dataset("image_files", options(root))
    assert d.size("train") + d.size("eval") == 20 and d.size("eval") == 2, "a seeded share of train held out"
    assert max(reds(torch.cat([d.train["x"], d.eval["x"]]))) == 19, "the unlabelled test rows are not used"
