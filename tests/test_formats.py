"""formats.detect: what a data.path is for each modality, data.format overriding it, one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sslterm import config, formats
from sslterm.formats import Format, FormatError, detect


def touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    touch(tmp_path / "imgs" / "a" / "1.png")
    touch(tmp_path / "x.npz")
    touch(tmp_path / "one.parquet")
    touch(tmp_path / "pq" / "a.parquet")
    touch(tmp_path / "pq" / "b.parquet")
    touch(tmp_path / "hf" / "state.json", "{}")
    touch(tmp_path / "hf" / "dataset_info.json", "{}")
    touch(tmp_path / "dd" / "dataset_dict.json", json.dumps({"splits": ["train"]}))
    touch(tmp_path / "shard-000.tar")
    touch(tmp_path / "shard-001.tar")
    touch(tmp_path / "a.txt")
    touch(tmp_path / "a.jsonl")
    touch(tmp_path / "notes.md")
    touch(tmp_path / "g.csv")
    touch(tmp_path / "tu" / "DS_A.txt")
    return tmp_path


@pytest.mark.parametrize(("name", "modality", "expected"), [
    ("imgs", "image", Format.IMAGE_FOLDER), ("x.npz", "image", Format.NPZ), ("one.parquet", "image", Format.PARQUET),
    ("pq", "image", Format.PARQUET), ("pq/*.parquet", "image", Format.PARQUET), ("hf", "image", Format.HF_DATASET),
    ("dd", "text", Format.HF_DATASET), ("shard-000.tar", "image", Format.WEBDATASET),
    ("shard-{000..001}.tar", "image", Format.WEBDATASET), ("a.txt", "text", Format.TEXT_FILES),
    ("imgs", "text", Format.TEXT_FILES), ("a.jsonl", "text", Format.JSONL), ("notes.md", "text", Format.TEXT_FILES),
    ("pq", "text", Format.PARQUET), ("imgs", "audio", Format.AUDIO_FOLDER), ("imgs", "video", Format.FRAME_FOLDERS),
    ("tu", "graph", Format.TU_FOLDER), ("a.txt", "graph", Format.EDGE_LIST), ("g.csv", "graph", Format.EDGE_LIST),
    ("x.npz", "graph", Format.NPZ),
])
def test_each_format_is_detected(tree: Path, name: str, modality: str, expected: Format) -> None:
    assert detect(str(tree / name), modality) is expected


@pytest.mark.parametrize(("name", "modality", "found"), [
    ("one.parquet", "audio", "a .parquet file"), ("shard-000.tar", "text", "a .tar file"),
    ("g.csv", "image", "a .csv file"), ("hf", "graph", "a Hugging Face save_to_disk folder"),
    ("imgs", "graph", "a folder without a *_A.txt file"), ("notes.md", "image", "a .md file"),
    ("pq/*.nothing", "image", "a pattern matching no file"),
])
def test_other_paths_are_refused_in_one_line(tree: Path, name: str, modality: str, found: str) -> None:
    with pytest.raises(FormatError) as e:
        detect(str(tree / name), modality)
    message = str(e.value)
    assert "\n" not in message and f"found {found}; {modality} reads " in message
    assert message.endswith(formats.allowed(modality)) and all(f.value in message
                                                               for f in formats.MODALITY_FORMATS[modality])


def test_format_overrides_detection(tree: Path) -> None:
    assert detect(str(tree / "notes.md"), "image", "parquet") is Format.PARQUET
    with pytest.raises(FormatError, match=r"data\.format 'tu_folder' is not read for image; expected one of auto, "):
        detect(str(tree / "imgs"), "image", "tu_folder")


def test_config_refuses_on_the_path_or_format_row(tree: Path) -> None:
    with pytest.raises(config.ConfigError) as e:
        config.from_overrides(["data.modality=audio", f"data.path={tree / 'one.parquet'}"])
    assert e.value.key == "data.path" and e.value.reason == ("found a .parquet file; audio reads audio_folder or "
                                                             "npz (sslterm catalog: FORMATS)")
    assert e.value.allowed == formats.allowed("audio")
    with pytest.raises(config.ConfigError) as e:
        config.from_overrides([f"data.path={tree / 'imgs'}", "data.format=edge_list"])
    assert e.value.key == "data.format" and "expected one of 'auto', 'image_folder', 'webdataset'" in str(e.value)
    exp = config.from_overrides([f"data.path={tree / 'notes.md'}", "data.format=parquet"])
    assert exp.data.options["format"] == "parquet"


def test_catalog_lists_the_formats_of_each_modality() -> None:
    from sslterm import catalog

    listed = catalog.as_dict()["formats"]
    assert [f["format"] for f in listed["image"]] == ["image_folder", "webdataset", "parquet", "hf_dataset", "npz"]
    assert {f["extra"] for f in listed["text"]} == {"", "pyarrow"}
    for modality, fmts in formats.MODALITY_FORMATS.items():
        entry = catalog.get("dataset", f"{modality}_files")
        param = entry.param("format")
        assert param is not None and param.choices == formats.choices(modality) and len(fmts) >= 2


def test_sslterm_catalog_prints_the_formats_table(tmp_path: Path) -> None:
    from tests.conftest import sslterm

    out = sslterm("catalog", runs=tmp_path).stdout
    table = out[out.index("\nFORMATS"):]
    assert "  image:\n      image_folder  any other folder\n" in table
    assert "      parquet       a .parquet file" in table and "(needs pyarrow: pip install 'sslterm[data]')" in table
