"""Token-level helpers for masked, inpainting and next-token objectives: masks, heads, per-token losses.

Everything here works on the encoder's token contract (see :class:`sslterm.models.Encoder`): masks are
bool [B, T] over token positions, targets are float [B, T, P] or ids [B, T], and every loss is an
average over the positions a weight mask selects, so the others cannot influence it (``torch.where``,
not multiplication, so even non-finite values elsewhere are ignored).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sslterm.models import Encoder


def random_token_mask(valid: torch.Tensor | None, shape: tuple[int, int], ratio: float,
                      gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """A random mask [B, T] hiding round(ratio · n_valid) valid tokens per example, at least one.

    ``valid`` [B, T] (or None: all valid) marks the real positions; invalid ones are never masked.
    Vectorised: each position draws a uniform key, invalid positions get a key above every valid one,
    and the ``k`` lowest-ranked positions of each row are masked.
    """
    b, t = shape
    noise = torch.rand(b, t, generator=gen, device=device)                    # [B, T]
    if valid is None:
        n_valid = torch.full((b,), t, device=device)
    else:
        noise = torch.where(valid, noise, 2.0)
        n_valid = valid.sum(dim=1)
    k = (n_valid * ratio).round().clamp(min=1)
    k = torch.minimum(k, n_valid)                                              # [B]
    rank = noise.argsort(dim=1).argsort(dim=1)                                 # [B, T]: 0 = lowest key
    return rank < k.unsqueeze(1)


def block_mask(grid: tuple[int, ...], batch: int, region: float, gen: torch.Generator,
               device: torch.device, valid: torch.Tensor | None = None) -> torch.Tensor:
    """One contiguous block of the token ``grid`` per example, covering about ``region`` of it: [B, T].

    Each side of the block is round(side · region^(1/n)) for an n-D grid (at least 1), at a uniform
    random position. On 1-D grids with ``valid`` tokens (a padded prefix, as in text) the span is
    sized and placed within each example's real length.
    """
    if not grid:
        raise ValueError("the encoder declares no token_grid; inpainting needs one")
    n = len(grid)
    if n == 1 and valid is not None:
        length = valid.sum(dim=1).to(torch.float32)                            # [B]
        span = (length * region).round().clamp(min=1)
        span = torch.minimum(span, length.clamp(min=1))
        start = (torch.rand(batch, generator=gen, device=device) * (length - span + 1)).floor()
        pos = torch.arange(grid[0], device=device)
        return (pos >= start[:, None]) & (pos < (start + span)[:, None])
    mask = torch.ones(batch, *([1] * n), dtype=torch.bool, device=device)
    for d, side in enumerate(grid):
        size = min(side, max(1, round(side * region ** (1.0 / n))))
        start = torch.randint(side - size + 1, (batch,), generator=gen, device=device)
        pos = torch.arange(side, device=device)
        along = (pos >= start[:, None]) & (pos < (start + size)[:, None])      # [B, side]
        shape = [batch] + [1] * n
        shape[d + 1] = side
        mask = mask & along.view(shape)
    return mask.flatten(1)                                                      # [B, T]


def masked_average(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` [B, T] over the positions where ``weight`` [B, T] is True (0 if none)."""
    picked = torch.where(weight, values, torch.zeros((), dtype=values.dtype, device=values.device))
    return picked.sum() / weight.sum().clamp(min=1)


def normalize_per_token(t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Standardise each token's target vector [.., P] to zero mean and unit variance (as in MAE)."""
    mean = t.mean(dim=-1, keepdim=True)
    var = t.var(dim=-1, keepdim=True, unbiased=False)
    return (t - mean) / (var + eps).sqrt()


def regression_terms(pred: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Per-token regression error [B, T]: mean over P of the squared (``mse``) or absolute (``l1``) error."""
    diff = pred - target
    if kind == "mse":
        return diff.pow(2).mean(dim=-1)
    if kind == "l1":
        return diff.abs().mean(dim=-1)
    raise ValueError(f"unknown regression loss {kind!r}; expected 'mse' or 'l1'")


def classification_terms(logits: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token cross-entropy [B, T] (nats) and correctness [B, T] (float) for logits [B, T, V]."""
    ce = F.cross_entropy(logits.transpose(1, 2), ids.long(), reduction="none")
    correct = (logits.argmax(dim=-1) == ids).to(logits.dtype)
    return ce, correct


def prediction_loss(pred: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, normalize: bool = False,
                    kind: str = "mse") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Loss over the positions ``weight`` [B, T] selects, and accuracy (None for float targets).

    Integer ``targets`` [B, T] are classes of ``pred`` [B, T, V] (cross-entropy); float targets
    [B, T, P] are regressed by ``pred`` [B, T, P] (``mse`` or ``l1``, optionally on per-token
    standardised targets).
    """
    if not targets.is_floating_point():
        ce, correct = classification_terms(pred, targets)
        return masked_average(ce, weight), masked_average(correct, weight)
    if normalize:
        targets = normalize_per_token(targets)
    return masked_average(regression_terms(pred, targets, kind), weight), None


def token_head(in_dim: int, out_dim: int, hidden: int = 0) -> nn.Module:
    """A linear head (``hidden`` = 0) or a one-hidden-layer GELU MLP from token features to targets."""
    if hidden <= 0:
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))


def _probe_batch(info: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A two-example all-zero batch shaped as ``info`` describes (see sslterm.data.Dataset)."""
    if "frames" in info:
        s = int(info["image_size"])
        return {"x": torch.zeros(2, int(info["frames"]), int(info["channels"]), s, s)}
    if "vocab_size" in info:
        return {"x": torch.full((2, int(info["seq_len"])), 2, dtype=torch.long)}
    if "max_nodes" in info:
        v = int(info["max_nodes"])
        return {"x": torch.zeros(2, v, int(info["node_features"])), "adj": torch.zeros(2, v, v),
                "mask": torch.ones(2, v, dtype=torch.bool)}
    if "image_size" in info:
        s = int(info["image_size"])
        return {"x": torch.zeros(2, int(info["channels"]), s, s)}
    if "length" in info:
        return {"x": torch.zeros(2, int(info["length"]))}
    raise ValueError("cannot tell the size of the encoder's token targets: the encoder declares no "
                     "target_dim and the dataset info names no known shape")


def target_size(encoder: Encoder, info: dict[str, Any]) -> int:
    """Classes (``target_vocab``) or features P of the encoder's token targets.

    Read from ``encoder.target_vocab`` or ``encoder.target_dim`` when declared; otherwise measured
    once by calling ``token_targets`` on an all-zero batch shaped from ``info``.
    """
    if encoder.target_vocab:
        return int(encoder.target_vocab)
    declared = getattr(encoder, "target_dim", 0)
    if declared:
        return int(declared)
    with torch.no_grad():
        targets = encoder.token_targets(**_probe_batch(info))
    if targets.dim() != 3:
        raise ValueError(f"token_targets returned shape {tuple(targets.shape)}; expected [B, T, P] "
                         "(or [B, T] ids with target_vocab set)")
    return int(targets.shape[-1])
