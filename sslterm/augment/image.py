"""Image augmentations: whole batches on the training device, per-sample parameters.

Each augmentation is a function ``(x, params, gen) -> x`` over float images [B, C, H, W] in
[0, 1]. Every random choice is drawn as a tensor of B values from ``gen``, so a batch costs a
handful of tensor ops, there is no Python loop over samples, and a seed fixes every view.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)


def _uniform(gen: torch.Generator, n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen, device=device)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """Luma of RGB images, [B, 1, H, W]."""
    w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def random_resized_crop(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Crop a random area fraction and aspect ratio per image, resized back (one grid_sample)."""
    b, dev = x.shape[0], x.device
    area = _uniform(gen, b, p["scale_min"], p["scale_max"], dev)
    log_r = _uniform(gen, b, math.log(p["ratio_min"]), math.log(p["ratio_max"]), dev)
    ratio = torch.exp(log_r)
    w = torch.sqrt(area * ratio).clamp(max=1.0)                 # crop size as a fraction of the side
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (2 * torch.rand(b, generator=gen, device=dev) - 1) * (1 - w)  # centre in normalised coords
    cy = (2 * torch.rand(b, generator=gen, device=dev) - 1) * (1 - h)
    theta = torch.zeros(b, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = w, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def horizontal_flip(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left to right with probability p."""
    flip = torch.rand(x.shape[0], generator=gen, device=x.device) < p["p"]
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def _rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate hue by ``turns`` of a full circle per image, in YIQ space (a 3×3 matmul each)."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          device=x.device, dtype=x.dtype)
    from_yiq = torch.linalg.inv(to_yiq)
    a = turns * 2 * math.pi
    cos, sin = torch.cos(a), torch.sin(a)
    rot = torch.zeros(x.shape[0], 3, 3, device=x.device, dtype=x.dtype)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2] = cos, -sin
    rot[:, 2, 1], rot[:, 2, 2] = sin, cos
    m = from_yiq @ rot @ to_yiq                                   # [B, 3, 3]
    return torch.einsum("bij,bjhw->bihw", m, x)


def color_jitter(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Random brightness, contrast, saturation and hue per image, applied with probability p."""
    b, dev = x.shape[0], x.device

    def factor(strength: float) -> torch.Tensor:
        return _uniform(gen, b, 1 - strength, 1 + strength, dev).view(-1, 1, 1, 1)

    y = x * factor(p["brightness"])
    mean = _gray(y).mean(dim=(2, 3), keepdim=True)
    y = (y - mean) * factor(p["contrast"]) + mean
    g = _gray(y)
    y = (y - g) * factor(p["saturation"]) + g
    y = _rotate_hue(y, _uniform(gen, b, -p["hue"], p["hue"], dev))
    apply = torch.rand(b, generator=gen, device=dev) < p["p"]
    return torch.where(apply.view(-1, 1, 1, 1), y.clamp(0, 1), x)


def grayscale(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Replace each image by its luma (kept as 3 channels) with probability p."""
    apply = torch.rand(x.shape[0], generator=gen, device=x.device) < p["p"]
    return torch.where(apply.view(-1, 1, 1, 1), _gray(x).expand_as(x), x)
