"""Image folders prepared once into memory-mapped arrays: split, reuse, rebuild, bad files, resume, disk space."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sslterm.data import build_dataset, prepare
from sslterm.data.prepare import BAD, DONE, _compact, prepare_images
from sslterm.decoding import decode_image
from sslterm.prepared import entries

FORMATS = (("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP"))


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(root))
    return root


def make_folder(root: Path, n: int = 24) -> list[Path]:
    """``n`` images of assorted sizes and formats in two class folders; image i has red = 8 i."""
    from PIL import Image

    files = []
    for i in range(n):
        ext, fmt = FORMATS[i % 3]
        f = root / ("even" if i % 2 == 0 else "odd") / f"img{i:03d}.{ext}"
        f.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (12 + i, 9 + 2 * i), (8 * i, 100, 50)).save(f, fmt, **({"lossless": True} if
                                                                               fmt == "WEBP" else {}))
        files.append(f)
    return files


def options(root: Path, **kw: Any) -> dict[str, Any]:
    return {"path": str(root), "image_size": 8, "max_examples": 0, "seed": 5, **kw}


def test_folder_prepared_once_split_as_before_and_memory_mapped(tmp_path: Path) -> None:
    files = make_folder(tmp_path / "src")
    ds = build_dataset("image_files", options(tmp_path / "src"))
    [entry] = entries()
    m = entry.manifest
    assert entry.finished and m["counts"] == {"train": 22, "eval": 2, "bad": 0, "files": 24} and m["bad_files"] == []
    assert m["classes"] == ["even", "odd"] and m["shape"] == [3, 8, 8] and ds.classes == ("even", "odd")
    assert ds.train["x"].shape == (22, 3, 8, 8) and ds.train["x"].dtype == torch.uint8
    order = sorted(files, key=lambda f: (f.parent.name, f.name))             # the folder order: class, then name
    perm = torch.randperm(24, generator=torch.Generator().manual_seed(5))   # split_labelled's choice
    for split, rows in (("eval", perm[:2]), ("train", perm[2:])):
        x, y = getattr(ds, split)["x"], getattr(ds, f"y_{split}")
        expected = np.stack([decode_image(order[i], 8) for i in rows.tolist()])
        assert np.array_equal(x.numpy(), expected), f"{split}: every image decoded into its row"
        assert y.tolist() == [int(order[i].parent.name == "odd") for i in rows.tolist()]
    maps = Path("/proc/self/maps")
    if maps.exists():
        assert str(entry.path / "train.u8") in maps.read_text(), "training maps the prepared file"


def test_reused_while_the_source_stays_and_rebuilt_when_it_changes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = make_folder(src, 12)
    entry, first = prepare_images(src, 8)
    stamp = (entry / "train.u8").stat().st_mtime_ns
    assert prepare_images(src, 8) == (entry, first) and (entry / "train.u8").stat().st_mtime_ns == stamp
    shutil.copy(files[0], src / "even" / "new.png")                                 # a file added
    _, added = prepare_images(src, 8)
    assert added["counts"]["files"] == 13
    os.utime(files[1], ns=(1, 1))                                                     # a file modified
    _, touched = prepare_images(src, 8)
    assert touched["fingerprint"] != added["fingerprint"]
    files[2].unlink()                                                                 # a file removed
    assert prepare_images(src, 8)[1]["counts"]["files"] == 12
    assert len(entries()) == 1, "one entry per source and options, rebuilt in place"
    assert prepare_images(src, 16)[0] != entry, "other options: another entry"


def test_unreadable_files_are_skipped_counted_and_listed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = make_folder(src, 30)
    files[4].write_bytes(b"not an image")
    files[7].write_bytes(files[7].read_bytes()[:40])                                  # a truncated JPEG
    _, m = prepare_images(src, 8, max_bad=0.1)
    assert m["counts"]["bad"] == 2 and m["counts"]["train"] + m["counts"]["eval"] == 28
    assert sorted(m["bad_files"]) == sorted(str(f.relative_to(src)) for f in (files[4], files[7]))
    ds = build_dataset("image_files", options(src, seed=0))                          # reuses that preparation
    got = sorted(x.tobytes() for x in torch.cat([ds.train["x"], ds.eval["x"]]).numpy())
    readable = [f for i, f in enumerate(files) if i not in (4, 7)]
    assert got == sorted(decode_image(f, 8).tobytes() for f in readable), "every readable image once, no bad one"
    assert ds.y_train is not None and ds.y_eval is not None
    ys = torch.cat([ds.y_train, ds.y_eval]).tolist()
    assert ys.count(0) == 15 - 1 and ys.count(1) == 15 - 1
    message = r"[12] of 30 images cannot be read \(more than 1%\), e.g. .*img00[47]"
    with pytest.raises(ValueError, match=message) as err:
        prepare_images(src, 8, seed=1)
    assert "\n" not in str(err.value) and "expected" in str(err.value)


def interrupt_after(chunks: int, seen: list[int]) -> Callable[[int, int, float], None]:
    """A progress callback that records each chunk's count in ``seen`` and stops (^C) after ``chunks`` chunks."""
    def progress(done: int, total: int, seconds: float) -> None:
        seen.append(done)
        if len(seen) == chunks:
            raise KeyboardInterrupt

    return progress


def test_interrupted_preparation_resumes_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    make_folder(src, 20)
    monkeypatch.setattr(prepare, "CHUNK", 4)
    seen: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        prepare_images(src, 8, workers=1, progress=interrupt_after(2, seen))
    [unfinished] = entries()
    assert not unfinished.finished and unfinished.source == str(src.resolve()), "ls names what it is preparing"
    seen.clear()
    entry, _ = prepare_images(src, 8, workers=1, progress=lambda done, total, s: seen.append(done))
    assert seen == [8, 12, 16, 20], "resumed at 8: the first 8 images are not decoded again"
    other = tmp_path / "fresh"
    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(other))
    fresh, _ = prepare_images(src, 8, workers=2)                                       # in a pool of 2 processes
    for name in ("train.u8", "eval.u8", "train_labels.i64", "eval_labels.i64"):
        assert (entry / name).read_bytes() == (fresh / name).read_bytes(), name


def test_disk_too_small_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_folder(tmp_path / "src", 6)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100))
    with pytest.raises(ValueError, match=r"preparing needs 1\.2 KB but the disk has 100\.0 B free") as err:
        prepare_images(tmp_path / "src", 8)
    assert "\n" not in str(err.value)


def test_compaction_fills_holes_with_the_last_good_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.u8"
    path.write_bytes(bytes(range(6)))
    state = np.array([DONE, BAD, DONE, DONE, BAD, DONE], dtype=np.uint8)
    origin = _compact(path, state, 1)
    assert path.read_bytes() == bytes([0, 5, 2, 3]) and origin.tolist() == [0, 5, 2, 3]


ORPHAN = """
import multiprocessing, os, sys
from pathlib import Path
from sslterm.data import prepare

def stop_now(done, total, seconds):          # as the worker does when stopped while setting up
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    os._exit(0)

prepare.CHUNK = 2
prepare.prepare_images(Path(sys.argv[1]), 8, workers=2, progress=stop_now)
"""


def test_a_stopped_preparation_leaves_no_decoding_process_behind(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT, wait_for

    make_folder(tmp_path / "src", 30)
    log = tmp_path / "out.txt"
    with log.open("w") as out:                     # a file, not a pipe: left-behind processes would hold a pipe open
        code = subprocess.run([sys.executable, "-c", ORPHAN, str(tmp_path / "src")], stdout=out,
                              stderr=subprocess.STDOUT, cwd=ROOT, timeout=300).returncode
    pids = [int(p) for p in log.read_text().split()]
    assert code == 0 and len(pids) == 2, log.read_text()

    def gone() -> bool:
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            return False
        return True

    wait_for(gone, timeout=60, what=f"the decoding processes {pids} to end after their parent")
