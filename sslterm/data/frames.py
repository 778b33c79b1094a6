"""Video clips as folders of frame images: ``ROOT/CLIP/*.jpg`` (unlabelled) or ``ROOT/CLASS/CLIP/*.jpg`` (labelled).

A clip's frames are its JPEG/PNG/WebP files in name order (``0001.jpg``, ``0002.jpg``, ...); every
clip keeps the first T frames, T the fewest any clip has, so all clips share one length. Frames are
decoded as images are (:func:`sslterm.decoding.decode_image`: centre-cropped square, bilinear resize),
by a pool of threads (Pillow releases the GIL while it decodes).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from sslterm.data.npz import fail
from sslterm.decoding import SUFFIXES, decode_image

EXPECTED = ("a folder of clip folders of frame images (JPEG/PNG/WebP, in name order), or class folders of "
            "clip folders, or an .npz file")


def _subfolders(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))


def _frames(d: Path) -> list[Path]:
    return sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in SUFFIXES)


def clip_folders(root: Path) -> tuple[list[Path], list[int] | None, tuple[str, ...]]:
    """The clip folders under ``root``, their class indices (None when unlabelled) and the class names."""
    subs = _subfolders(root)
    if subs and all(_frames(d) for d in subs):
        return subs, None, ()
    if subs and not any(_frames(d) for d in subs):
        classes = tuple(d.name for d in subs)
        pairs = [(clip, i) for i, d in enumerate(subs) for clip in _subfolders(d) if _frames(clip)]
        if pairs:
            return [c for c, _ in pairs], [i for _, i in pairs], classes
    raise fail(root, "no clip folders of frames found (or clip and class folders mixed)", EXPECTED)


def read_frame_folders(root: Path, size: int, limit: int = 0) -> tuple[torch.Tensor, np.ndarray | None,
                                                                        tuple[str, ...]]:
    """Clips uint8 [N, T, 3, size, size], class indices (or None) and class names from a folder of clip folders."""
    clips, labels, classes = clip_folders(root)
    if limit:
        clips, labels = clips[:limit], None if labels is None else labels[:limit]
    if len(clips) < 2:
        raise fail(root, f"{len(clips)} clip folder(s)", f"at least 2 (one is held out); {EXPECTED}")
    frames = [_frames(c) for c in clips]
    t = min(len(f) for f in frames)
    out = np.empty((len(clips), t, 3, size, size), dtype=np.uint8)

    def decode(job: tuple[int, int]) -> None:
        i, k = job
        try:
            out[i, k] = decode_image(frames[i][k], size)
        except (OSError, ValueError, SyntaxError) as e:
            raise fail(frames[i][k], f"cannot read this frame ({type(e).__name__})", EXPECTED) from None

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(decode, [(i, k) for i in range(len(clips)) for k in range(t)]))
    return torch.from_numpy(out), None if labels is None else np.array(labels, dtype=np.int64), classes
