"""The ``image_files`` dataset: your own images from a folder of PNG/JPEG files or an .npz array."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sslterm.data import Dataset
from sslterm.data.npz import encode_labels, fail, read_npz
from sslterm.data.splits import split_labelled

SUFFIXES = (".png", ".jpg", ".jpeg")


def _read_folder(root: Path, size: int, limit: int) -> tuple[torch.Tensor, torch.Tensor | None, tuple[str, ...]]:
    """Images under ``root`` ([N, 3, size, size] uint8) and labels from class subfolders."""
    from PIL import Image, UnidentifiedImageError  # only needed for folders of images

    classes = tuple(sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")))
    if classes:
        files = [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).rglob("*"))
                 if f.suffix.lower() in SUFFIXES]
    else:
        files = [(f, -1) for f in sorted(root.iterdir()) if f.suffix.lower() in SUFFIXES]
    if limit:
        files = files[:limit]
    if not files:
        raise ValueError(f"{root}: no PNG or JPEG images found; expected image files, or class subfolders of them")
    images = np.empty((len(files), size, size, 3), dtype=np.uint8)
    for n, (f, _) in enumerate(files):  # decoding happens once, before training
        try:
            with Image.open(f) as source:
                rgb = source.convert("RGB")
            side = min(rgb.size)
            left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
            rgb = rgb.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BILINEAR)
            images[n] = np.asarray(rgb)
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"{f}: cannot read this image ({e}); expected a PNG or JPEG file") from None
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([label for _, label in files]) if classes else None
    return x, y, classes


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
    if path.is_dir():
        x, y, classes = _read_folder(path, size, limit)
    elif path.suffix.lower() == ".npz":
        x, raw_y = _read_npz(path, size, limit)
        y, classes = (None, ()) if raw_y is None else encode_labels(raw_y, len(x), path, _EXPECTED_NPZ)
    else:
        raise ValueError(f"{path}: unsupported; expected a folder of PNG/JPEG images or an .npz file")
    info = {"channels": int(x.shape[1]), "image_size": size, "num_classes": len(classes)}
    return split_labelled({"x": x}, y, classes, info, seed=int(options["seed"]))
