"""The ``shapes`` dataset: RGB images of 10 shape classes drawn at a random position, size, rotation and
colour over a textured background. Every image is rendered at once by evaluating each class's
signed region on a coordinate grid (no per-sample Python), from a CPU generator so the same
seed gives the same pixels on every device.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sslterm.data import Dataset

SHAPE_CLASSES = (
    "disc", "square", "triangle", "ring", "cross", "stripes", "diamond", "half-disc", "frame", "x",
)


def _shape_masks(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Boolean masks of every class in shape-local coordinates: [10, N, H, W]."""
    r = torch.sqrt(x * x + y * y)
    ax, ay = x.abs(), y.abs()
    box = torch.maximum(ax, ay)
    return torch.stack([
        r < 1.0,                                                     # disc
        box < 0.8,                                                   # square
        (y > -0.7) & (ax < 0.55 * (0.9 - y)),                        # triangle
        (r < 1.0) & (r > 0.55),                                      # ring
        ((ax < 0.3) & (ay < 0.95)) | ((ay < 0.3) & (ax < 0.95)),     # cross
        (box < 0.9) & (torch.sin(y * math.pi * 2.5) > 0),            # stripes
        ax + ay < 1.0,                                               # diamond
        (r < 1.0) & (y > -0.1),                                      # half-disc
        (box < 0.9) & (box > 0.55),                                  # frame
        (((x - y).abs() < 0.35) | ((x + y).abs() < 0.35)) & (box < 0.9),  # x
    ])


def render_shapes(n: int, size: int, gen: torch.Generator,
                  upright: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Render ``n`` labelled shape images: (uint8 [n, 3, size, size], int64 [n]).

    ``upright`` draws every shape unrotated over a background lit from above, as photographs
    are: then which way is up is visible, and rotation prediction has something to learn.
    """
    labels = torch.randint(0, len(SHAPE_CLASSES), (n,), generator=gen)
    u = torch.rand(n, 8, generator=gen)
    cx, cy = (u[:, 0] - 0.5) * 0.8, (u[:, 1] - 0.5) * 0.8             # centre in [-0.4, 0.4]
    scale = 0.35 + 0.35 * u[:, 2]                                      # radius as a fraction
    theta = u[:, 3] * 2 * math.pi if not upright else torch.zeros(n)
    fg = torch.rand(n, 3, generator=gen)
    bg = torch.rand(n, 3, generator=gen)
    bg = torch.where((fg - bg).abs().sum(1, keepdim=True) < 0.6, 1 - fg, bg)  # keep contrast
    lin = torch.linspace(-1, 1, size)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")                   # [H, W]
    dx = gx[None] - cx[:, None, None]
    dy = gy[None] - cy[:, None, None]
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    s = scale[:, None, None]
    lx, ly = (dx * cos + dy * sin) / s, (-dx * sin + dy * cos) / s     # shape-local coords
    masks = _shape_masks(lx, ly)                                        # [10, n, H, W]
    mask = masks[labels, torch.arange(n)].float()[:, None]              # [n, 1, H, W]
    # background: a random linear gradient plus pixel noise
    grad = (u[:, 4, None, None] - 0.5) * gx[None] + (u[:, 5, None, None] - 0.5) * gy[None]
    if upright:                                                         # light from above: row 0 brightest
        grad = -(0.6 + 0.4 * u[:, 4, None, None]) * gy[None]
    noise = torch.randn(n, 1, size, size, generator=gen) * 0.04
    back = bg[:, :, None, None] + 0.25 * grad[:, None] + noise
    img = mask * fg[:, :, None, None] + (1 - mask) * back
    return (img.clamp(0, 1) * 255).round().to(torch.uint8), labels


def build_shapes(options: dict[str, Any]) -> Dataset:
    """Generate the train and held-out splits from the dataset's catalog options."""
    gen = torch.Generator().manual_seed(int(options["seed"]))
    size = int(options["image_size"])
    upright = bool(options.get("upright", False))
    x_tr, y_tr = render_shapes(int(options["num_samples"]), size, gen, upright)
    x_ev, y_ev = render_shapes(int(options["num_eval"]), size, gen, upright)
    info = {"channels": 3, "image_size": size, "num_classes": len(SHAPE_CLASSES)}
    return Dataset({"x": x_tr}, {"x": x_ev}, y_tr, y_ev, SHAPE_CLASSES, info)
