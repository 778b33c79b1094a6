"""Settings derived from folders of the user's files: image folders, frame folders and FLAC audio, read from headers."""

from __future__ import annotations

import sys
import types
import wave
from pathlib import Path

import pytest
from PIL import Image

from sslterm import autoscan, config
from sslterm.store import create_run
from sslterm.train.loop import train


def image_folder(root: Path, sizes: list[tuple[int, int]], classes: int = 2) -> Path:
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            Image.new("RGB", (w, h), (40 * c, 5 * i, 90)).save(root / f"class{c}" / f"{i:03d}.png")
    return root


def frame_folders(root: Path, frames: list[int], side: tuple[int, int]) -> Path:
    for k, n in enumerate(frames):
        clip = root / ("a" if k % 2 else "b") / f"clip{k}"
        clip.mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", side, (20 * i, 0, 0)).save(clip / f"{i:03d}.jpg")
    return root


def settled(tmp_path: Path, modality: str, path: Path, *sets: str) -> config.Experiment:
    file = tmp_path / f"{modality}.toml"
    file.write_text(f'[data]\nmodality = "{modality}"\npath = "{path}"\n')
    return autoscan.settle(config.load(file, list(sets)))


def test_an_image_folder_gives_its_median_side(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "img", [(60, 40), (50, 44), (80, 48)])
    assert autoscan.scan("image_files", {"path": str(root)}).file_side == 44
    exp = settled(tmp_path, "image", root)
    assert exp.data.options["image_size"] == 44
    assert exp.auto["data.image_size"] == "auto: 44, the images' own side"
    assert "44-px images" in exp.auto["model.stages"]


def test_large_images_are_capped_and_the_reason_says_so(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "img", [(400, 300)], classes=1)
    exp = settled(tmp_path, "image", root)
    assert exp.data.options["image_size"] == 128
    assert "(300 px) within 8..128" in exp.auto["data.image_size"]


def test_the_users_image_size_wins_over_the_folder(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "img", [(60, 40)])
    exp = settled(tmp_path, "image", root, "data.image_size=32")
    assert exp.data.options["image_size"] == 32 and "data.image_size" not in exp.auto


def test_unreadable_files_are_skipped_and_an_empty_folder_says_nothing(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "img", [(36, 36)], classes=1)
    (root / "class0" / "broken.png").write_bytes(b"not a png")
    assert autoscan.scan("image_files", {"path": str(root)}).file_side == 36
    (tmp_path / "empty").mkdir()
    assert autoscan.scan("image_files", {"path": str(tmp_path / "empty")}).file_side is None


def test_frame_folders_give_frame_side_and_the_shortest_clip(tmp_path: Path) -> None:
    root = frame_folders(tmp_path / "clips", [7, 5, 9], (64, 40))
    facts = autoscan.scan("video_files", {"path": str(root)})
    assert (facts.file_side, facts.frames) == (40, 5)
    exp = settled(tmp_path, "video", root, "objective.name=temporal_order")
    assert exp.data.options["image_size"] == 40 and "40-px frames" in exp.auto["model.stem_stride"]


def test_flac_lengths_come_from_soundfile_when_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "sounds"
    (root / "x").mkdir(parents=True)
    for i in range(3):
        (root / "x" / f"{i}.flac").write_bytes(b"fLaC")
    with wave.open(str(root / "x" / "w.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 400)
    fake = types.SimpleNamespace(info=lambda p: types.SimpleNamespace(samplerate=8000, frames=1000))
    monkeypatch.setitem(sys.modules, "soundfile", fake)
    facts = autoscan.scan("audio_files", {"path": str(root)})
    assert (facts.file_rate, facts.file_length) == (8000, 1000)       # 4 files at 8 kHz; 90th percentile
    monkeypatch.setitem(sys.modules, "soundfile", None)                 # not installed: the WAV file alone
    assert autoscan.scan("audio_files", {"path": str(root)}).file_length == 400


def test_a_folder_of_small_images_trains_with_no_set(tmp_path: Path) -> None:
    """A shape the built-in data never has (20-px images): the derived settings train."""
    root = image_folder(tmp_path / "img", [(20, 20), (22, 20), (20, 24)] * 4)
    file = tmp_path / "mine.toml"
    file.write_text(f'[data]\nmodality = "image"\npath = "{root}"\n\n[train]\nsteps = 2\nbatch_size = 8\n'
                    'device = "cpu"\nthreads = 1\nlog_every = 1\n\n[eval]\nevery = 0\n')
    exp = autoscan.settle(config.load(file))
    assert exp.data.options["image_size"] == 20
    outcome = train(exp, create_run(tmp_path / "runs", "mine"), lambda: False, lambda step, device: None)
    assert outcome.step == 2


def test_parquet_and_hugging_face_images_give_their_side(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    import io

    def png(w: int, h: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (w, h)).save(buf, "PNG")
        return buf.getvalue()

    blobs = [png(30, 24), png(40, 26), png(50, 28)]
    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    pq.write_table(pa.table({"img": pa.array([{"bytes": b, "path": "x.png"} for b in blobs], type=struct),
                             "label": pa.array([0, 1, 0])}), tmp_path / "part.parquet")
    assert autoscan.scan("image_files", {"path": str(tmp_path / "part.parquet"), "image_column": "img"}
                         ).file_side == 26
    assert autoscan.scan("image_files", {"path": str(tmp_path / "*.parquet"), "image_column": "img"}).file_side == 26
    assert autoscan.scan("image_files", {"path": str(tmp_path / "part.parquet")}).file_side is None  # no such column
    split = tmp_path / "hf" / "train"
    split.mkdir(parents=True)
    (tmp_path / "hf" / "dataset_dict.json").write_text('{"splits": ["train"]}')
    t = pa.table({"image": pa.array(blobs, type=pa.binary())})
    with pa.OSFile(str(split / "data-00000-of-00001.arrow"), "wb") as sink, pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    (split / "state.json").write_text('{"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}')
    assert autoscan.scan("image_files", {"path": str(tmp_path / "hf")}).file_side == 26


def test_webdataset_shards_give_their_side(tmp_path: Path) -> None:
    import io
    import tarfile

    for s in range(2):
        with tarfile.open(tmp_path / f"shard-{s:04d}.tar", "w") as tar:
            for i in range(3):
                buf = io.BytesIO()
                Image.new("RGB", (60, 33 + s)).save(buf, "JPEG")
                info = tarfile.TarInfo(f"{s}{i:03d}.jpg")
                info.size = len(buf.getvalue())
                tar.addfile(info, io.BytesIO(buf.getvalue()))
    assert autoscan.scan("image_files", {"path": str(tmp_path / "shard-{0000..0001}.tar")}).file_side == 33
    exp_side = autoscan.scan("image_files", {"path": str(tmp_path / "shard-0001.tar")}).file_side
    assert exp_side == 34
