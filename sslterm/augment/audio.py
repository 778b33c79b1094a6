"""Audio augmentations over batches of waveforms [B, L] on the device, with per-sample random parameters.

Each function takes float waveforms [B, L], a parameter dict and a generator, and returns [B, L].
Every random choice is a tensor of B values (or B × masks) drawn from the generator: no Python
loop over samples. Each applies to a sample with probability ``p`` and is the identity at zero
strength (p = 0, zero-width masks, speed factor 1, crop fraction 1).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor


def _uniform(gen: torch.Generator, shape: tuple[int, ...], low: float, high: float, device: torch.device) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=gen, device=device)


def _coin(gen: torch.Generator, x: Tensor, p: float) -> Tensor:
    """Bool [B, 1]: which samples the augmentation applies to."""
    return (torch.rand(x.shape[0], generator=gen, device=x.device) < p)[:, None]


def random_spans(b: int, length: int, masks: int, max_fraction: float, gen: torch.Generator,
                 device: torch.device) -> Tensor:
    """Bool [B, length], True inside ``masks`` random spans per row, each 0..max_fraction·length long.

    The spans of a row may overlap. A width is drawn uniformly in [0, max_fraction·length] (whole
    positions), then a start so that the span fits inside the row.
    """
    width = (_uniform(gen, (b, masks), 0, max_fraction * length, device)).floor()          # [B, M]
    start = (torch.rand(b, masks, generator=gen, device=device) * (length - width + 1)).floor()
    pos = torch.arange(length, device=device).view(1, 1, -1)
    inside = (pos >= start[..., None]) & (pos < (start + width)[..., None])                # [B, M, length]
    return inside.any(dim=1)


def additive_noise(x: Tensor, p: dict[str, Any], gen: torch.Generator) -> Tensor:
    """Add white Gaussian noise at a signal-to-noise ratio drawn per sample in [snr_min, snr_max] dB.

    The noise power is the clip's mean power over 10^(snr/10), so a silent clip stays silent.
    """
    b = x.shape[0]
    snr_db = _uniform(gen, (b, 1), p["snr_min"], p["snr_max"], x.device)
    power = x.pow(2).mean(dim=1, keepdim=True)                                            # [B, 1]
    scale = torch.sqrt(power / 10 ** (snr_db / 10))
    noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return torch.where(_coin(gen, x, p["p"]), x + scale * noise, x)


def time_masking(x: Tensor, p: dict[str, Any], gen: torch.Generator) -> Tensor:
    """Zero ``masks`` random time spans per sample, each up to ``max_fraction`` of the clip."""
    hidden = random_spans(x.shape[0], x.shape[1], p["masks"], p["max_fraction"], gen, x.device)
    hidden = hidden & _coin(gen, x, p["p"])
    return x.masked_fill(hidden, 0.0)


def frequency_masking(x: Tensor, p: dict[str, Any], gen: torch.Generator) -> Tensor:
    """Zero ``masks`` random frequency bands per sample (each up to ``max_fraction`` of the STFT bins).

    One batched STFT (Hann window of ``n_fft``, hop n_fft/4, which reconstructs exactly), bins
    zeroed, inverse STFT back to the same length. Samples left alone are returned unchanged.
    """
    b, length = x.shape
    n_fft = min(int(p["n_fft"]), length - length % 2)           # the window must fit in the clip
    bins = n_fft // 2 + 1
    band = random_spans(b, bins, p["masks"], p["max_fraction"], gen, x.device)             # [B, F]
    apply = _coin(gen, x, p["p"]) & band.any(dim=1, keepdim=True)
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, n_fft // 4, window=window, return_complex=True)           # [B, F, frames]
    spec = spec.masked_fill(band[..., None], 0)
    y = torch.istft(spec, n_fft, n_fft // 4, window=window, length=length)
    return torch.where(apply, y, x)


def _gather_linear(x: Tensor, pos: Tensor) -> Tensor:
    """x [B, L] read at fractional positions pos [B, L'] by linear interpolation; 0 outside [0, L-1]."""
    length = x.shape[1]
    i0 = pos.floor()
    frac = (pos - i0).to(x.dtype)
    i0 = i0.long()
    a = x.gather(1, i0.clamp(0, length - 1))
    b = x.gather(1, (i0 + 1).clamp(0, length - 1))
    y = a + frac * (b - a)
    return y.masked_fill((pos < 0) | (pos > length - 1), 0.0)


def speed_perturbation(x: Tensor, p: dict[str, Any], gen: torch.Generator) -> Tensor:
    """Play each sample faster or slower by a factor in [min_factor, max_factor] (pitch moves with it).

    Output sample t reads the input at t·factor by linear interpolation (a per-sample grid, no
    anti-aliasing filter). A faster clip ends early and is zero-padded; a slower one is cut at L.
    """
    b, length = x.shape
    factor = torch.exp(_uniform(gen, (b, 1), math.log(p["min_factor"]), math.log(p["max_factor"]), x.device))
    factor = torch.where(_coin(gen, x, p["p"]), factor, torch.ones_like(factor))
    pos = torch.arange(length, device=x.device, dtype=torch.float32)[None] * factor     # [B, L]
    return _gather_linear(x, pos)


def random_crop(x: Tensor, p: dict[str, Any], gen: torch.Generator) -> Tensor:
    """Keep a random window of ``min_fraction``..1 of each clip, moved to the start and zero-padded.

    The window is not stretched back (that would change speed and pitch): the rest of the clip
    becomes silence at the end, as a shorter recording would be padded.
    """
    b, length = x.shape
    frac = _uniform(gen, (b, 1), p["min_fraction"], 1.0, x.device)
    frac = torch.where(_coin(gen, x, p["p"]), frac, torch.ones_like(frac))
    keep = (frac * length).round().clamp(min=1)
    start = (torch.rand(b, 1, generator=gen, device=x.device) * (length - keep + 1)).floor()
    pos = torch.arange(length, device=x.device)[None]
    src = (start + pos).long().clamp(max=length - 1)
    return x.gather(1, src).masked_fill(pos >= keep, 0.0)
