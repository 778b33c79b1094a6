"""The ``image_files`` dataset: your images from a folder of JPEG/PNG/WebP files (prepared once) or an .npz."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sslterm.data import Dataset
from sslterm.data.npz import encode_labels, fail, read_npz
from sslterm.data.splits import split_labelled
from sslterm.formats import AUTO, Format, detect


def load_prepared(entry: Path, manifest: dict[str, Any]) -> Dataset:
    """A prepared image entry as a Dataset whose splits are memory-mapped uint8 [N, 3, S, S] (no copy)."""
    from sslterm.data.prepare import map_splits

    x, y = map_splits(entry, manifest, "image")
    classes = tuple(manifest["classes"])
    info = {"channels": 3, "image_size": int(manifest["shape"][-1]), "num_classes": len(classes)}
    return Dataset({"x": x["train"]}, {"x": x["eval"]}, y["train"], y["eval"], classes, info)


def _read_folder(root: Path, size: int, limit: int, seed: int, data_format: str = AUTO, image_column: str = "image",
                 label_column: str = "label") -> Dataset:
    """A folder of images (or WebDataset shards, Parquet, a Hugging Face folder with these columns), prepared
    once into the data cache over every core, mapped."""
    from sslterm.data.prepare import prepare_images, print_progress, say_skipped

    entry, manifest = prepare_images(root, size, seed, limit, progress=print_progress(f"preparing {root}"),
                                     data_format=data_format, image_column=image_column, label_column=label_column)
    return load_prepared(entry, say_skipped(root, entry, manifest, "image(s)"))


_EXPECTED_NPZ = ("an .npz with x [N, C, H, W] (C 1 or 3) or [N, H, W], uint8 or float in [0, 1], N ≥ 2, "
                 "and optional labels y [N]")


def _read_npz(path: Path, size: int, limit: int) -> tuple[torch.Tensor, np.ndarray | None]:
    """Images uint8 [N, C, size, size] and the raw labels (or None) from an .npz."""
    arrays = read_npz(path, _EXPECTED_NPZ)
    if "x" not in arrays:
        raise fail(path, "no array named 'x'", _EXPECTED_NPZ)
    x = arrays["x"]
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] < 2:
        raise fail(path, f"x has shape {x.shape}", _EXPECTED_NPZ)
    if limit:
        x = x[:limit]
    if x.dtype == np.uint8:
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif np.issubdtype(x.dtype, np.floating):
        if np.isnan(x).any() or x.min() < 0 or x.max() > 1:
            raise fail(path, "float images outside [0, 1] or NaN", _EXPECTED_NPZ)
        t = torch.from_numpy((x * 255).round().astype(np.uint8))
    else:
        raise fail(path, f"x has dtype {x.dtype}", _EXPECTED_NPZ)
    if t.shape[-2:] != (size, size):
        side = min(t.shape[-2:])
        top, left = (t.shape[-2] - side) // 2, (t.shape[-1] - side) // 2
        t = t[..., top:top + side, left:left + side].float()
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False).round().clamp(0, 255)
        t = t.to(torch.uint8)
    y = arrays.get("y")
    if y is not None and y.shape[:1] != arrays["x"].shape[:1]:
        raise fail(path, f"y has shape {y.shape}, x has {arrays['x'].shape}", _EXPECTED_NPZ)
    return t, None if y is None else y[: len(t)]


def load_image_files(options: dict[str, Any]) -> Dataset:
    """Read the user's images named by ``options['path']``; 10% is held out (seeded)."""
    path = Path(options["path"])
    size, limit = int(options["image_size"]), int(options["max_examples"])
    fmt = detect(path, "image", str(options.get("format", AUTO)))
    if fmt is not Format.NPZ:                 # a folder, shards, Parquet, a Hugging Face folder: prepared once
        return _read_folder(path, size, limit, int(options["seed"]), data_format=fmt.value,
                            image_column=str(options.get("image_column", "image")),
                            label_column=str(options.get("label_column", "label")))
    x, raw_y = _read_npz(path, size, limit)
    y, classes = (None, ()) if raw_y is None else encode_labels(raw_y, len(x), path, _EXPECTED_NPZ)
    info = {"channels": int(x.shape[1]), "image_size": size, "num_classes": len(classes)}
    return split_labelled({"x": x}, y, classes, info, seed=int(options["seed"]))
