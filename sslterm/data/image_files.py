"""The ``image_files`` dataset: your own images from a folder of PNG/JPEG files or an .npz array."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sslterm.data import Dataset
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


def _read_npz(path: Path, size: int, limit: int) -> tuple[torch.Tensor, torch.Tensor | None, tuple[str, ...]]:
    """Images from an .npz holding x [N, C, H, W] or [N, H, W] and an optional y [N]."""
    try:
        arrays = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    if "x" not in arrays:
        raise ValueError(f"{path}: no array named 'x'; expected x [N, C, H, W] or [N, H, W] and optional y [N]")
    x = np.asarray(arrays["x"])
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] < 2:
        raise ValueError(f"{path}: x has shape {x.shape}; expected [N, C, H, W] with C 1 or 3 (or [N, H, W]), N ≥ 2")
    if limit:
        x = x[:limit]
    if x.dtype == np.uint8:
        t = torch.from_numpy(x.copy())
    elif np.issubdtype(x.dtype, np.floating):
        if np.nanmin(x) < 0 or np.nanmax(x) > 1 or np.isnan(x).any():
            raise ValueError(f"{path}: float images must lie in [0, 1] without NaN")
        t = torch.from_numpy((x * 255).round().astype(np.uint8))
    else:
        raise ValueError(f"{path}: x has dtype {x.dtype}; expected uint8, or float in [0, 1]")
    if t.shape[-2:] != (size, size):
        side = min(t.shape[-2:])
        top, left = (t.shape[-2] - side) // 2, (t.shape[-1] - side) // 2
        t = t[..., top:top + side, left:left + side].float()
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False).round().clamp(0, 255)
        t = t.to(torch.uint8)
    y = None
    if "y" in arrays:
        y_arr = np.asarray(arrays["y"])[: len(t)]
        if y_arr.shape != (len(t),) or not np.issubdtype(y_arr.dtype, np.integer) or (y_arr < 0).any():
            raise ValueError(f"{path}: y must be non-negative integers of shape [{len(t)}], got {y_arr.dtype} "
                             f"{y_arr.shape}")
        y = torch.from_numpy(y_arr.astype(np.int64))
    classes = tuple(str(c) for c in range(int(y.max()) + 1)) if y is not None else ()
    return t, y, classes


def load_image_files(options: dict[str, Any]) -> Dataset:
    """Read the user's images named by ``options['path']``; 10% is held out (seeded)."""
    path = Path(options["path"])
    size, limit = int(options["image_size"]), int(options["max_examples"])
    if path.is_dir():
        x, y, classes = _read_folder(path, size, limit)
    elif path.suffix.lower() == ".npz":
        x, y, classes = _read_npz(path, size, limit)
    else:
        raise ValueError(f"{path}: unsupported; expected a folder of PNG/JPEG images or an .npz file")
    info = {"channels": int(x.shape[1]), "image_size": size, "num_classes": len(classes)}
    return split_labelled({"x": x}, y, classes, info, seed=int(options["seed"]))
