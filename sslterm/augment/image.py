"""Image augmentations over whole batches on the device, with per-sample random parameters.

Each function takes float images [B, C, H, W] in [0, 1], or clips [B, T, C, H, W] (one set of
parameters per clip, applied alike to all its frames), a parameter dict and a generator. Every
random choice is a tensor of B values drawn from the generator: no Python loop over samples.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)
_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


@functools.cache
def _colour_constants(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Luma weights [3, 1, 1] and the RGB→YIQ matrix and its inverse [3, 3] on ``device``, made once.

    Made in every step instead, they would be copied from host memory each time, and on CUDA that
    copy (and ``linalg.inv``'s error check) waits for the device.
    """
    to_yiq = torch.tensor(_TO_YIQ, dtype=torch.float64)
    made = (torch.tensor(_LUMA, dtype=torch.float64).view(3, 1, 1), to_yiq, torch.linalg.inv(to_yiq))
    return made[0].to(device, dtype), made[1].to(device, dtype), made[2].to(device, dtype)


def _uniform(gen: torch.Generator, n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen, device=device)


def _per_sample(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape B per-sample values to broadcast over x [B, ...]."""
    return v.view(-1, *([1] * (x.dim() - 1)))


def _gray(x: torch.Tensor) -> torch.Tensor:
    """Luma of RGB images [..., 3, H, W] → [..., 1, H, W] (single-channel images are their own luma)."""
    if x.shape[-3] == 1:
        return x
    w = _colour_constants(x.device, x.dtype)[0]
    return (x * w).sum(-3, keepdim=True)


def random_resized_crop(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Crop a random area fraction and aspect ratio per image, resized back (one grid_sample)."""
    shape = x.shape
    x4 = x.reshape(shape[0], -1, shape[-2], shape[-1])           # clips: frames share the crop
    b, dev = shape[0], x.device
    area = _uniform(gen, b, p["scale_min"], p["scale_max"], dev)
    ratio = torch.exp(_uniform(gen, b, math.log(p["ratio_min"]), math.log(p["ratio_max"]), dev))
    w = torch.sqrt(area * ratio).clamp(max=1.0)                   # crop size as a fraction of the side
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (2 * torch.rand(b, generator=gen, device=dev) - 1) * (1 - w)  # centre, normalised coords
    cy = (2 * torch.rand(b, generator=gen, device=dev) - 1) * (1 - h)
    theta = torch.zeros(b, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = w, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, list(x4.shape), align_corners=False)
    out = F.grid_sample(x4, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out.reshape(shape)


def horizontal_flip(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Mirror each image (or whole clip) left to right with probability p."""
    flip = torch.rand(x.shape[0], generator=gen, device=x.device) < p["p"]
    return torch.where(_per_sample(flip, x), x.flip(-1), x)


def _rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate hue by ``turns`` of a circle per sample, in YIQ space (one 3×3 matrix per sample)."""
    _, to_yiq, from_yiq = _colour_constants(x.device, x.dtype)
    a = turns * 2 * math.pi
    rot = torch.zeros(x.shape[0], 3, 3, device=x.device, dtype=x.dtype)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2] = torch.cos(a), -torch.sin(a)
    rot[:, 2, 1], rot[:, 2, 2] = torch.sin(a), torch.cos(a)
    m = from_yiq @ rot @ to_yiq                                    # [B, 3, 3]
    return torch.einsum("bij,b...jhw->b...ihw", m, x)


def color_jitter(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Random brightness, contrast, saturation and hue per sample, applied with probability p."""
    b, dev = x.shape[0], x.device

    def factor(strength: float) -> torch.Tensor:
        return _per_sample(_uniform(gen, b, 1 - strength, 1 + strength, dev), x)

    y = x * factor(p["brightness"])
    mean = _gray(y).mean(dim=(-2, -1), keepdim=True)
    y = (y - mean) * factor(p["contrast"]) + mean
    g = _gray(y)
    y = (y - g) * factor(p["saturation"]) + g
    hue = _uniform(gen, b, -p["hue"], p["hue"], dev)
    if x.shape[-3] == 3:                                          # hue needs colour
        y = _rotate_hue(y, hue)
    apply = torch.rand(b, generator=gen, device=dev) < p["p"]
    return torch.where(_per_sample(apply, x), y.clamp(0, 1), x)


def grayscale(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Replace each sample by its luma (kept as 3 channels) with probability p."""
    apply = torch.rand(x.shape[0], generator=gen, device=x.device) < p["p"]
    return torch.where(_per_sample(apply, x), _gray(x).expand_as(x), x)


def gaussian_blur(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Blur with a per-sample Gaussian σ in [sigma_min, sigma_max] pixels, with probability p."""
    shape = x.shape
    b, dev = shape[0], x.device
    x4 = x.reshape(b, -1, shape[-2], shape[-1])                    # [B, K, H, W]
    k = x4.shape[1]
    sigma = _uniform(gen, b, p["sigma_min"], p["sigma_max"], dev).clamp(min=1e-3)
    radius = max(1, min(math.ceil(3 * p["sigma_max"]), (min(shape[-2:]) - 1) // 2))
    offsets = torch.arange(-radius, radius + 1, device=dev, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets[None] / sigma[:, None]) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(k, dim=0)  # [B·K, 2r+1]
    flat = x4.reshape(1, b * k, shape[-2], shape[-1])
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(b * k, 1, 1, -1), groups=b * k)   # along width
    flat = F.conv2d(flat, kernel.view(b * k, 1, -1, 1), groups=b * k)   # along height
    blurred = flat.reshape(shape)
    apply = torch.rand(b, generator=gen, device=dev) < p["p"]
    return torch.where(_per_sample(apply, x), blurred, x)


def solarize(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Invert every pixel at or above ``threshold``, with probability p per sample."""
    apply = torch.rand(x.shape[0], generator=gen, device=x.device) < p["p"]
    return torch.where(_per_sample(apply, x) & (x >= p["threshold"]), 1 - x, x)
