"""An interrupted preparation of Parquet images, an audio folder or frame folders resumes where it stopped.

Every source goes through one engine (``prepare.Layout``); the image folder's resume is tested in
tests/test_prepare.py, and this checks the same promise for the other sources: after a stop the
first chunks are not decoded again, and the entry is byte for byte the one an uninterrupted
preparation makes.
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sslterm.data import prepare
from sslterm.data.prepare import prepare_images
from sslterm.data.prepare_media import prepare_audio, prepare_clips
from tests.test_frames import write_clip
from tests.test_prepare import interrupt_after

N = 12  # items per source; CHUNK = 4 below, so the stop after two chunks leaves 8 done


def parquet_images(root: Path) -> Callable[..., tuple[Path, dict[str, Any]]]:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from tests.test_webdataset import png

    root.mkdir(parents=True)
    pq.write_table(pa.table({"image": pa.array([png(10 * i) for i in range(N)], type=pa.binary()),
                             "label": pa.array([i % 2 for i in range(N)])}), root / "part.parquet")
    return lambda **kw: prepare_images(root / "part.parquet", 8, **kw)


def audio_folder(root: Path) -> Callable[..., tuple[Path, dict[str, Any]]]:
    for i in range(N):
        f = root / ("a" if i % 2 else "b") / f"{i:02d}.wav"
        f.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(f), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes((np.arange(200 + 10 * i) * (i + 1) % 3000).astype("<i2").tobytes())
    return lambda **kw: prepare_audio(root, 8000, 160, **kw)


def frame_folders(root: Path) -> Callable[..., tuple[Path, dict[str, Any]]]:
    for i in range(N):
        write_clip(root / ("a" if i % 2 else "b") / f"clip{i:02d}", 3, 10 * i)
    return lambda **kw: prepare_clips(root, 8, **kw)


@pytest.mark.parametrize("source", [parquet_images, audio_folder, frame_folders], ids=lambda f: f.__name__)
def test_an_interrupted_preparation_resumes_and_equals_an_uninterrupted_one(
        source: Callable[[Path], Callable[..., tuple[Path, dict[str, Any]]]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepare, "CHUNK", 4)
    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(tmp_path / "cache"))
    run = source(tmp_path / "src")
    seen: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        run(workers=1, progress=interrupt_after(2, seen))
    seen.clear()
    entry, manifest = run(workers=1, progress=lambda done, total, s: seen.append(done))
    assert seen == [8, 12], "resumed at 8: the first two chunks are not decoded again"
    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(tmp_path / "fresh"))
    fresh, fresh_manifest = run(workers=1)
    assert manifest["shape"] == fresh_manifest["shape"]
    names = sorted(p.name for p in fresh.iterdir() if p.suffix in (".u8", ".i16", ".i64"))
    assert names, "the entry holds its arrays"
    for name in names:
        assert (entry / name).read_bytes() == (fresh / name).read_bytes(), name
