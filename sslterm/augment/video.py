"""Video-only augmentations over batches of clips [B, T, C, H, W], with per-clip random parameters.

Both act along time only, by an index gather over frames (no loop over clips); the spatial and
colour augmentations of :mod:`sslterm.augment.image` also apply to clips, one parameter set per
clip. Neither ever reorders frames, so motion direction (what temporal objectives learn) survives.
"""

from __future__ import annotations

from typing import Any

import torch


def gather_frames(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Frames ``idx`` [B, T'] of each clip x [B, T, ...] → [B, T', ...]."""
    rows = torch.arange(x.shape[0], device=x.device)[:, None]
    return x[rows, idx]


def _check_clips(x: torch.Tensor, name: str) -> None:
    if x.dim() != 5:
        raise ValueError(f"{name} expects clips [B, T, C, H, W], got shape {tuple(x.shape)}")


def temporal_crop(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Take a random contiguous sub-clip of ``min_fraction``..1 of T frames, resampled back to T.

    Per clip a length L = f·T (f uniform in [min_fraction, 1]) and a start s (uniform in
    [0, T - L]) are drawn; output frame t is input frame floor(s + (t + ½)·L/T), the nearest-frame
    resampling of the sub-clip (frames repeat: the clip plays slower). Frame order is kept;
    ``min_fraction = 1`` is the identity.
    """
    _check_clips(x, "temporal_crop")
    b, t, dev = x.shape[0], x.shape[1], x.device
    low = float(p["min_fraction"])
    length = t * (low + (1 - low) * torch.rand(b, 1, generator=gen, device=dev))     # [B, 1] frames
    start = (t - length) * torch.rand(b, 1, generator=gen, device=dev)
    pos = start + (torch.arange(t, device=dev) + 0.5) * (length / t)                # [B, T], increasing
    idx = pos.floor().long().clamp_(0, t - 1)
    return gather_frames(x, idx)


def frame_drop(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Drop each frame with probability p, replacing it by the most recent kept frame (a freeze).

    The first frame is always kept, so every dropped frame has an earlier kept one; the index of
    the frame shown at t is the running maximum (cummax) of the kept indices ≤ t. ``p = 0`` is
    the identity.
    """
    _check_clips(x, "frame_drop")
    b, t, dev = x.shape[0], x.shape[1], x.device
    keep = torch.rand(b, t, generator=gen, device=dev) >= p["p"]                    # [B, T]
    keep[:, 0] = True
    steps = torch.arange(t, device=dev).expand(b, t)
    idx = torch.where(keep, steps, torch.zeros_like(steps)).cummax(dim=1).values     # last kept ≤ t
    return gather_frames(x, idx)
