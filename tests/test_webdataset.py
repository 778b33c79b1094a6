"""WebDataset .tar shards given by a brace pattern, prepared once like an image folder."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import torch

from sslterm import config
from sslterm.data import build_dataset
from sslterm.decoding import expand_shards


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def png(red: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (20, 14), (red, 7, 9)).save(out, "PNG")
    return out.getvalue()


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_shards(root: Path, shards: int = 3, per: int = 5, labels: bool = True) -> None:
    """Shards whose sample k (counted over all shards) is red = 10 k, labelled "-1" or "4" by k's parity."""
    root.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        with tarfile.open(root / f"train-{s:06d}.tar", "w") as tar:
            for i in range(per):
                k = s * per + i
                add(tar, f"n{k % 2}/{k:06d}.png", png(10 * k))
                if labels:
                    add(tar, f"n{k % 2}/{k:06d}.cls", b"4\n" if k % 2 else b"-1\n")
                add(tar, f"n{k % 2}/{k:06d}.json", b"{}")


def options(path: str, **kw: object) -> dict[str, object]:
    return {"path": path, "image_size": 8, "max_examples": 0, "seed": 0, **kw}


def test_shards_by_pattern_are_prepared_with_their_labels(tmp_path: Path) -> None:
    write_shards(tmp_path / "s")
    pattern = str(tmp_path / "s" / "train-{000000..000002}.tar")
    exp = config.from_overrides([f"data.path={pattern}", "data.image_size=8"])
    assert exp.data.dataset == "image_files" and exp.data.options["path"] == pattern
    d = build_dataset("image_files", exp.data.options)
    assert d.classes == ("-1", "4") and d.size("train") + d.size("eval") == 15 and d.size("eval") == 2
    x = torch.cat([d.train["x"], d.eval["x"]])
    assert d.y_train is not None and d.y_eval is not None
    y = torch.cat([d.y_train, d.y_eval])
    k = (x[:, 0, 0, 0].double() / 10).round().long()
    assert sorted(k.tolist()) == list(range(15)), "every sample once, decoded from inside its shard"
    assert torch.equal(y, k % 2), "labels from the .cls members"
    assert build_dataset("image_files", exp.data.options).size("train") == d.size("train"), "prepared once"


def test_unlabelled_shards_and_limit(tmp_path: Path) -> None:
    write_shards(tmp_path / "s", labels=False)
    d = build_dataset("image_files", options(str(tmp_path / "s" / "train-{000000..000002}.tar"), max_examples=7))
    assert d.y_train is None and d.classes == () and d.size("train") + d.size("eval") == 7


def test_bad_shards_are_one_line(tmp_path: Path) -> None:
    write_shards(tmp_path / "s")
    with pytest.raises(config.ConfigError, match=r"names 2 missing file\(s\), e.g. .*train-000003.tar"):
        config.from_overrides([f"data.path={tmp_path / 's' / 'train-{000000..000004}.tar'}"])
    (tmp_path / "s" / "train-000001.tar").write_bytes(b"not a tar" * 100)
    with pytest.raises(ValueError, match=r"train-000001\.tar: not a readable tar file .*; expected uncompressed") as e:
        build_dataset("image_files", options(str(tmp_path / "s" / "train-{000000..000002}.tar")))
    assert "\n" not in str(e.value)


def test_brace_patterns() -> None:
    assert expand_shards("a-{08..11}.tar") == ["a-08.tar", "a-09.tar", "a-10.tar", "a-11.tar"]
    assert expand_shards("{x,y}/{1..2}") == ["x/1", "x/2", "y/1", "y/2"]
    assert expand_shards("literal{braces}.png") == ["literal{braces}.png"]
