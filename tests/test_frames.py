"""Video clips given as folders of frame images, labelled by class folders or not, prepared once into the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sslterm import catalog, config
from sslterm.data import Dataset, build_dataset


def write_clip(d: Path, frames: int, red: int) -> None:
    """Frame k of the clip has green = 20 k (so order shows) and red = ``red`` (so the clip shows)."""
    from PIL import Image

    d.mkdir(parents=True, exist_ok=True)
    for k in range(frames):
        Image.new("RGB", (24, 16), (red, 20 * k, 0)).save(d / f"{k:04d}.png")


def load(path: Path, **changes: object) -> Dataset:
    opts = {**catalog.get("dataset", "video_files").defaults(), "path": str(path), "image_size": 8, **changes}
    return build_dataset("video_files", opts)


def test_class_folders_of_clip_folders(tmp_path: Path) -> None:
    for i in range(10):
        write_clip(tmp_path / ("walk" if i % 2 else "jump") / f"clip{i}", frames=4 + i % 3, red=10 * i)
    d = load(tmp_path)
    assert d.classes == ("jump", "walk") and d.info == {"frames": 4, "channels": 3, "image_size": 8, "num_classes": 2}
    x = torch.cat([d.train["x"], d.eval["x"]])
    assert d.y_train is not None and d.y_eval is not None
    y = torch.cat([d.y_train, d.y_eval])
    assert x.shape == (10, 4, 3, 8, 8) and x.dtype == torch.uint8, "prepared: uint8 [N, T, C, H, W]"
    assert torch.equal(x[:, :, 1, 0, 0], torch.tensor([0, 20, 40, 60]).expand(10, 4)), "frames in name order"
    reds = x[:, 0, 0, 0, 0].long()
    assert torch.equal(y, (reds // 10) % 2), "labels follow their clips"


def test_unlabelled_clip_folders_and_config(tmp_path: Path) -> None:
    for i in range(3):
        write_clip(tmp_path / f"c{i}", frames=3, red=50)
    d = load(tmp_path)
    assert d.y_train is None and d.classes == () and d.size("train") + d.size("eval") == 3
    exp = config.from_overrides(["data.modality=video", f"data.path={tmp_path}"])
    assert exp.data.dataset == "video_files"


def test_bad_frame_folders_are_one_line(tmp_path: Path) -> None:
    write_clip(tmp_path / "a" / "c0", frames=2, red=0)
    (tmp_path / "loose.png").write_bytes(b"")
    write_clip(tmp_path / "b", frames=2, red=0)                     # a clip beside a class folder
    with pytest.raises(ValueError, match="no clip folders of frames found") as err:
        load(tmp_path)
    assert "\n" not in str(err.value)
    good = tmp_path / "good"
    write_clip(good / "c0", frames=2, red=0)
    write_clip(good / "c1", frames=2, red=0)
    (good / "c1" / "0001.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"1 of 2 clips cannot be read .*e\.g\. c1 .*frame 0001\.png") as err:
        load(good)
    assert "\n" not in str(err.value)


def test_frame_folders_prepared_once_reused_and_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sslterm.data.prepare_media import prepare_clips

    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(tmp_path / "cache"))
    for i in range(6):
        write_clip(tmp_path / "src" / f"c{i}", frames=3 + i % 2, red=40 * i)
    entry, m = prepare_clips(tmp_path / "src", 8, workers=1)
    assert m["kind"] == "clips" and m["shape"] == [3, 3, 8, 8] and m["dtype"] == "uint8"
    assert m["counts"] == {"train": 5, "eval": 1, "bad": 0, "files": 6} and m["fingerprint"]["files"] == 21
    stamp = (entry / "train.u8").stat().st_mtime_ns
    assert prepare_clips(tmp_path / "src", 8, workers=1) == (entry, m)
    assert (entry / "train.u8").stat().st_mtime_ns == stamp, "a second preparation does no work"
    write_clip(tmp_path / "src" / "c0", frames=3, red=250)                       # a changed clip: prepared again
    _, changed = prepare_clips(tmp_path / "src", 8, workers=1)
    x = np.fromfile(entry / "train.u8", np.uint8).reshape(5, 3, 3, 8, 8)
    x = np.concatenate([x, np.fromfile(entry / "eval.u8", np.uint8).reshape(1, 3, 3, 8, 8)])
    assert changed["fingerprint"] != m["fingerprint"] and 250 in x[:, 0, 0, 0, 0].tolist()


def test_two_steps_from_prepared_frame_folders(tmp_path: Path) -> None:
    from sslterm.store import create_run
    from sslterm.train.loop import train

    for i in range(8):
        write_clip(tmp_path / "src" / ("a" if i % 2 else "b") / f"c{i}", frames=4, red=30 * i)
    exp = config.from_overrides([
        "data.modality=video", f"data.path='{tmp_path / 'src'}'", "data.image_size=16", "train.steps=2",
        "train.batch_size=4", "train.log_every=1", "eval.every=0", "model.projector_hidden=16",
        "model.projector_dim=8"])
    run = create_run(tmp_path / "runs", "clips")
    assert train(exp, run, lambda: False, lambda step, device: None).step == 2
    assert [r["step"] for r in run.metrics()] == [1, 2]
