"""Video datasets: generated ``moving_shapes`` clips labelled by motion, and the user's clips (.npz or frame folders).

``moving_shapes``: each clip shows one shape (drawn with the ``shapes`` dataset's shape-local masks)
moving over a static textured background. The label is the *motion* (left to right, clockwise
rotation, growing, orbiting, ...), not the shape, so only the order and change of frames tell the
class. Positions live on a torus (a shape leaving on the right comes back on the left) and are
uniform at every frame, and angle and size are random at the clip's middle, so one frame alone
carries (almost) no information about the class. Clips are rendered by tensor ops over whole
chunks of clips (no per-clip Python) from a CPU generator: the same seed gives the same pixels on
every device.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sslterm.data import Dataset
from sslterm.data.npz import encode_labels, fail, read_npz
from sslterm.data.shapes import SHAPE_CLASSES, _shape_masks
from sslterm.data.splits import split_labelled
from sslterm.formats import AUTO, Format, detect

MOTION_CLASSES = (
    "right", "left", "up", "down", "clockwise", "anticlockwise", "grow", "shrink", "orbit", "static",
)
# Shapes whose rotation is visible (not the disc or the ring), shared by every motion class.
_SHAPES = tuple(SHAPE_CLASSES.index(s) for s in
                ("square", "triangle", "cross", "stripes", "diamond", "half-disc", "frame", "x"))
# Unit direction (x right, y down) of each translation class; zero for the others.
_DIRECTION = torch.tensor([[1, 0], [-1, 0], [0, -1], [0, 1]] + [[0, 0]] * 6, dtype=torch.float32)
_SPIN = torch.tensor([0, 0, 0, 0, 1, -1, 0, 0, 0, 0], dtype=torch.float32)   # +1: clockwise on screen
_GROWTH = torch.tensor([0, 0, 0, 0, 0, 0, 1, -1, 0, 0], dtype=torch.float32)
_ORBIT = torch.tensor([0, 0, 0, 0, 0, 0, 0, 0, 1, 0], dtype=torch.float32)
FALL, RISE = 3.0, 0.3                                     # speed factors of down and up motions (falling)
_CHUNK_PIXELS = 1 << 22                                   # frame pixels rendered per chunk (bounds memory)


def _wrap(d: torch.Tensor) -> torch.Tensor:
    """Offsets on the torus [-1, 1): the shortest signed distance with period 2."""
    return torch.remainder(d + 1, 2) - 1


def _draw(pos: torch.Tensor, angle: torch.Tensor, radius: torch.Tensor, shape_ids: torch.Tensor,
          fg: torch.Tensor, back: torch.Tensor) -> torch.Tensor:
    """Composite clips: poses [m, T, 2], [m, T], [m, T]; colours [m, 3], backgrounds [m, 3, H, W] → uint8."""
    m, frames = angle.shape
    size = back.shape[-1]
    lin = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1           # pixel centres
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")                               # [H, W]
    dx = _wrap(gx - pos[..., 0, None, None])                                       # [m, T, H, W]
    dy = _wrap(gy - pos[..., 1, None, None])
    cos, sin = torch.cos(angle)[..., None, None], torch.sin(angle)[..., None, None]
    r = radius[..., None, None]
    lx, ly = (dx * cos + dy * sin) / r, (-dx * sin + dy * cos) / r                 # shape-local coords
    ids = shape_ids.repeat_interleave(frames)
    mask = _shape_masks(lx.flatten(0, 1), ly.flatten(0, 1))[ids, torch.arange(m * frames)]
    mask = mask.view(m, frames, 1, size, size).float()
    clip = mask * fg[:, None, :, None, None] + (1 - mask) * back[:, None]
    return (clip.clamp(0, 1) * 255).round().to(torch.uint8)


def render_moving_shapes(n: int, frames: int, size: int, gen: torch.Generator,
                         upright: bool = True, falling: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Render ``n`` labelled clips: (uint8 [n, frames, 3, size, size], int64 motion classes [n]).

    ``upright``: light from above (the background brightens towards the top), so clips have an up,
    as photographs do; otherwise backgrounds are lit from any side and every orientation is alike.
    ``falling``: motions have an up, as filmed ones do: "down" clips move ``FALL`` times and "up" clips
    ``RISE`` times as fast as sideways ones (the random draws are the same either way).
    """
    labels = torch.randint(0, len(MOTION_CLASSES), (n,), generator=gen)
    shape_ids = torch.tensor(_SHAPES)[torch.randint(0, len(_SHAPES), (n,), generator=gen)]
    u = torch.rand(n, 10, generator=gen)
    centre = u[:, :2] * 2 - 1                                          # clip-middle position, anywhere
    scale = 0.3 + 0.2 * u[:, 2]                                        # radius at the middle frame
    theta = u[:, 3] * 2 * math.pi                                      # angle at the middle frame
    speed = 0.07 + 0.07 * u[:, 4]                                      # translation per frame (1-2 px at 32)
    if falling:                                                        # things fall faster than they rise
        speed = speed * torch.where(labels == 3, FALL, torch.where(labels == 2, RISE, 1.0))
    spin = math.radians(8) + math.radians(8) * u[:, 5]                 # rotation per frame
    growth = 0.6 + 0.4 * u[:, 6]                                       # log-size change over the clip
    orbit_r = 0.25 + 0.2 * u[:, 7]
    orbit_w = (math.radians(25) + math.radians(20) * u[:, 8]) * torch.where(u[:, 9] < 0.5, -1.0, 1.0)
    phase = torch.rand(n, generator=gen) * 2 * math.pi
    fg = torch.rand(n, 3, generator=gen)
    bg = torch.rand(n, 3, generator=gen)
    bg = torch.where((fg - bg).abs().sum(1, keepdim=True) < 0.6, 1 - fg, bg)   # keep contrast
    slope = torch.rand(n, 2, generator=gen) - 0.5                              # background gradient
    if upright:
        slope[:, 1] = -0.25 - slope[:, 1].abs()                                # brighter at the top (y down)
    noise = torch.randn(n, 1, size, size, generator=gen) * 0.04                # static per clip

    # per-frame pose as offsets from the clip's middle frame, so single frames look alike across classes
    tt = torch.arange(frames, dtype=torch.float32) - (frames - 1) / 2              # [T]
    ang = phase[:, None] + orbit_w[:, None] * tt                                   # [n, T]
    circle = (torch.stack([torch.cos(ang), torch.sin(ang)], -1)
              - torch.stack([torch.cos(phase), torch.sin(phase)], -1)[:, None])   # [n, T, 2]
    pos = (centre[:, None] + _DIRECTION[labels][:, None] * (speed[:, None, None] * tt[None, :, None])
           + (_ORBIT[labels] * orbit_r)[:, None, None] * circle)                  # [n, T, 2]
    angle = theta[:, None] + (_SPIN[labels] * spin)[:, None] * tt                  # [n, T]
    rel = tt / max(frames - 1, 1)                                                  # -0.5 .. 0.5
    radius = scale[:, None] * torch.exp((_GROWTH[labels] * growth)[:, None] * rel)  # [n, T]

    lin = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    grad = slope[:, 0, None, None] * gx + slope[:, 1, None, None] * gy             # [n, H, W]
    back = bg[:, :, None, None] + 0.25 * grad[:, None] + noise                     # [n, 3, H, W]
    per = max(1, _CHUNK_PIXELS // (frames * size * size))                          # clips per chunk
    parts = (pos.split(per), angle.split(per), radius.split(per), shape_ids.split(per), fg.split(per),
             back.split(per))
    return torch.cat([_draw(*chunk) for chunk in zip(*parts, strict=True)]), labels


def build_moving_shapes(options: dict[str, Any]) -> Dataset:
    """Generate the train and held-out clips from the dataset's catalog options."""
    gen = torch.Generator().manual_seed(int(options["seed"]))
    frames, size = int(options["frames"]), int(options["image_size"])
    upright, falling = bool(options.get("upright", True)), bool(options.get("falling", False))
    x_tr, y_tr = render_moving_shapes(int(options["num_samples"]), frames, size, gen, upright, falling)
    x_ev, y_ev = render_moving_shapes(int(options["num_eval"]), frames, size, gen, upright, falling)
    info = {"frames": frames, "channels": 3, "image_size": size, "num_classes": len(MOTION_CLASSES)}
    return Dataset({"x": x_tr}, {"x": x_ev}, y_tr, y_ev, MOTION_CLASSES, info)


_EXPECTED = ("a .npz file with x: uint8, or float in [0, 1], shaped [N, T, C, H, W] with C 1 or 3 "
             "(or [N, T, H, W]), N ≥ 2, and optionally y: integer or string labels of shape [N]")
_RESIZE_CLIPS = 64                                         # clips resized per chunk (bounds memory)


def _square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Centre-crop frames of uint8 clips [N, T, C, H, W] to a square and resize them to ``size``."""
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    x = x[..., top:top + side, left:left + side]
    parts = []
    for chunk in x.split(_RESIZE_CLIPS):
        frames = chunk.flatten(0, 1).float()
        out = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        parts.append(out.round().clamp(0, 255).to(torch.uint8).view(*chunk.shape[:3], size, size))
    return torch.cat(parts)


def load_clips(path: str | Path, size: int, limit: int = 0) -> tuple[torch.Tensor, np.ndarray | None]:
    """Read clips as uint8 [N, T, C, size, size] (float pixels are quantised) and the raw labels (or None)."""
    p = Path(path)

    def bad(what: str) -> ValueError:
        return fail(p, what, _EXPECTED)

    if not p.is_file():
        raise bad("not a file")
    arrays = read_npz(p, _EXPECTED)
    if "x" not in arrays:
        raise bad(f"no array named 'x' (found {', '.join(arrays) or 'nothing'})")
    x = arrays["x"]
    if x.ndim == 4:
        x = x[:, :, None]
    if x.ndim != 5 or x.shape[2] not in (1, 3) or x.shape[0] < 2 or min(x.shape[1:]) < 1:
        raise bad(f"x has shape {list(arrays['x'].shape)}")
    if limit:
        x = x[:limit]
    if x.dtype == np.uint8:
        xt = torch.from_numpy(np.ascontiguousarray(x))
    elif np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise bad("x holds NaN or infinite values")
        if x.min() < 0 or x.max() > 1:
            raise bad(f"float x ranges over [{float(x.min()):g}, {float(x.max()):g}]")
        xt = torch.from_numpy(np.round(x * 255).astype(np.uint8))
    else:
        raise bad(f"x has dtype {x.dtype}")
    xt = _square(xt, size)
    y = arrays.get("y")
    if y is not None and y.shape[:1] != arrays["x"].shape[:1]:
        raise bad(f"y has shape {list(y.shape)}, x has {list(arrays['x'].shape)}")
    return xt, None if y is None else y[: len(xt)]


def build_video_files(options: dict[str, Any]) -> Dataset:
    """The user's clips from ``options['path']``: an .npz, or folders of frames (prepared once into uint8
    [N, T, 3, S, S], :mod:`sslterm.data.prepare_media`); 10% is held out (seeded)."""
    size, limit = int(options["image_size"]), int(options["max_examples"])
    y: torch.Tensor | None
    if detect(options["path"], "video", str(options.get("format", AUTO))) is Format.FRAME_FOLDERS:  # prepared once
        from sslterm.data.prepare_media import clip_folder

        return clip_folder(Path(options["path"]), size, int(options["seed"]), limit)
    x, raw_y = load_clips(options["path"], size, limit)
    y, classes = (None, ()) if raw_y is None else encode_labels(raw_y, len(x), options["path"], _EXPECTED)
    info = {"frames": int(x.shape[1]), "channels": int(x.shape[2]), "image_size": size,
            "num_classes": len(classes)}
    return split_labelled({"x": x}, y, classes, info, seed=int(options["seed"]))
