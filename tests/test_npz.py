"""The five .npz readers share one opening (closed after), one label rule and one held-out split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sslterm import catalog
from sslterm.data import Dataset, build_dataset
from sslterm.data.npz import encode_labels, read_npz

N = 15


def _image(i: np.ndarray) -> dict[str, np.ndarray]:
    return {"x": np.broadcast_to((i * 10).astype(np.uint8)[:, None, None, None], (N, 3, 8, 8)).copy()}


def _video(i: np.ndarray) -> dict[str, np.ndarray]:
    return {"x": np.broadcast_to((i * 10).astype(np.uint8)[:, None, None, None], (N, 2, 8, 8)).copy()}


def _text(i: np.ndarray) -> dict[str, np.ndarray]:
    return {"x": np.stack([i, i, i, i], 1).astype(np.int64)}


def _audio(i: np.ndarray) -> dict[str, np.ndarray]:
    x = np.zeros((N, 100), np.float32)
    x[:, 0] = i / 100
    return {"x": x, "sample_rate": np.array(8000)}


def _graph(i: np.ndarray) -> dict[str, np.ndarray]:
    x = np.zeros((N, 4, 2), np.float32)
    x[..., 1] = i[:, None]
    return {"adj": np.ones((N, 4, 4)), "x": x}


# (dataset, arrays of example i, options, example id of each row of a split)
READERS: dict[str, tuple[Callable[[np.ndarray], dict[str, np.ndarray]], dict[str, Any],
                         Callable[[torch.Tensor], torch.Tensor]]] = {
    "image_files": (_image, {"image_size": 8}, lambda x: x[:, 0, 0, 0].long() // 10),
    "video_files": (_video, {"image_size": 8}, lambda x: x[:, 0, 0, 0, 0].long() // 10),
    "text_files": (_text, {}, lambda x: x[:, 0] - 2),
    "audio_files": (_audio, {"sample_rate": 8000, "clip_seconds": 0.0125}, lambda x: (x[:, 0] * 100).round().long()),
    "graph_files": (_graph, {"max_nodes": 6}, lambda x: x[:, 0, 1].long()),
}


def _load(tmp_path: Path, name: str, y: np.ndarray | None) -> Dataset:
    make, options, _ = READERS[name]
    arrays = make(np.arange(N))
    if y is not None:
        arrays["y"] = y
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    opts = {**catalog.get("dataset", name).defaults(), **options, "path": str(path), "seed": 3}
    return build_dataset(name, opts)


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_reader_holds_out_the_shared_split(tmp_path: Path, name: str) -> None:
    ids = READERS[name][2]
    d = _load(tmp_path, name, np.where(np.arange(N) % 2 == 1, 7, 5))
    expected = torch.randperm(N, generator=torch.Generator().manual_seed(3))       # splits.split_labelled's order
    assert d.size("eval") == 2, "round(15 x 0.1) = 2 held out, as the shared helper does"
    assert ids(d.eval["x"]).tolist() == expected[:2].tolist()
    assert ids(d.train["x"]).tolist() == expected[2:].tolist()
    assert d.classes == ("5", "7") and d.info["num_classes"] == 2
    assert d.y_eval is not None and d.y_train is not None
    assert torch.equal(d.y_train, ids(d.train["x"]) % 2) and torch.equal(d.y_eval, ids(d.eval["x"]) % 2)


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_reader_takes_negative_and_text_labels_alike(tmp_path: Path, name: str) -> None:
    ids = READERS[name][2]
    d = _load(tmp_path, name, np.where(np.arange(N) % 3 == 0, -1, 1))
    assert d.classes == ("-1", "1")
    assert d.y_train is not None and torch.equal(d.y_train, (ids(d.train["x"]) % 3 != 0).long())
    d = _load(tmp_path, name, np.array(["cat", "dog", "ant"] * 5))
    assert d.classes == ("ant", "cat", "dog")
    assert d.y_eval is not None and torch.equal(d.y_eval, torch.tensor([1, 2, 0])[ids(d.eval["x"]) % 3])
    d = _load(tmp_path, name, None)
    assert d.y_train is None and d.classes == () and d.info["num_classes"] == 0


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_reader_closes_the_archive(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Any] = []
    real = np.load

    def tracking(*args: Any, **kwargs: Any) -> Any:
        opened.append(real(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(np, "load", tracking)
    _load(tmp_path, name, np.arange(N) % 2)
    assert opened and all(z.zip is None for z in opened), "NpzFile.close() sets .zip to None"


@pytest.mark.parametrize("name", sorted(READERS))
def test_labels_that_do_not_fit_are_one_line(tmp_path: Path, name: str) -> None:
    for y in (np.zeros(N, np.float32), np.zeros(N + 3, np.int64)):
        with pytest.raises(ValueError, match="expected") as err:
            _load(tmp_path, name, y)
        assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_unreadable_archive_and_label_rule(tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_text("not a zip")
    with pytest.raises(ValueError, match=r"bad\.npz: not a readable \.npz file .*; expected x things"):
        read_npz(tmp_path / "bad.npz", "x things")
    y, classes = encode_labels(np.array([5, 7, 5, 9]), 4, "p", "e")
    assert y.tolist() == [0, 1, 0, 2] and y.dtype == torch.int64 and classes == ("5", "7", "9")
