"""A small Vision Transformer (Dosovitskiy et al., ICLR 2021) whose patches are its tokens."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sslterm import catalog
from sslterm.models.base import Encoder
from sslterm.models.transformer import TransformerStack

TARGETS = ("pixels", "edges")
"""What a patch token's target is: its pixels, or where its edges are whatever the colours (edges)."""

_DEFAULTS = catalog.get("encoder", "vit").defaults()
"""ViTEncoder's defaults: the catalog declares them, once."""


class ViTEncoder(Encoder):
    """Patch embedding → learned positions → transformer → mean over patches.

    Input [B, C, H, W] in [0, 1]; features [B, dim]; tokens [B, (H/p)·(W/p), dim] in raster order.
    """

    def __init__(self, channels: int, image_size: int, patch_size: int = _DEFAULTS["patch_size"],
                 dim: int = _DEFAULTS["dim"], depth: int = _DEFAULTS["depth"], heads: int = _DEFAULTS["heads"],
                 targets: str = _DEFAULTS["targets"]) -> None:
        super().__init__()
        if targets not in TARGETS:
            raise ValueError(f"targets must be one of {', '.join(TARGETS)}, got {targets!r}")
        self.targets = targets
        if image_size % patch_size:
            raise ValueError(f"patch_size {patch_size} must divide image_size {image_size}")
        if dim % heads:
            raise ValueError(f"heads {heads} must divide dim {dim}")
        self.patch_size = patch_size
        side = image_size // patch_size
        self.token_grid = (side, side)
        self.out_dim = self.token_dim = dim
        self.embed = nn.Conv2d(channels, dim, patch_size, patch_size)
        self.pos = nn.Parameter(torch.randn(1, side * side, dim) * 0.02)
        self.body = TransformerStack(dim, depth, heads)

    def tokens(self, x: torch.Tensor, causal: bool = False, **_: torch.Tensor) -> torch.Tensor:
        h = self.embed(x * 2 - 1).flatten(2).transpose(1, 2)      # [B, N, dim]
        return self.body(h + self.pos, causal=causal)

    def forward(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return self.tokens(x).mean(dim=1)

    def token_targets(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        """The pixels of each patch: [B, N, C·p·p]; with ``targets = "edges"`` its edge map [B, N, p·p]:
        the absolute horizontal plus vertical difference to the next pixel, averaged over channels, so
        the colours of a shape and its background do not enter it, only where they meet."""
        p = self.patch_size
        if self.targets == "edges":
            dx = F.pad((x[..., :, 1:] - x[..., :, :-1]).abs(), (0, 1))
            dy = F.pad((x[..., 1:, :] - x[..., :-1, :]).abs(), (0, 0, 0, 1))
            x = (dx + dy).mean(dim=1, keepdim=True)                          # [B, 1, H, W]
        return F.unfold(x, kernel_size=p, stride=p).transpose(1, 2)

    def hide(self, x: torch.Tensor, mask: torch.Tensor, /, **_: torch.Tensor) -> torch.Tensor:
        """Grey out (0.5) the pixels of every hidden patch; mask is [B, N]."""
        side, p = self.token_grid[0], self.patch_size
        m = mask.view(x.shape[0], 1, side, side).to(x.dtype)
        m = F.interpolate(m, scale_factor=p, mode="nearest")
        return x * (1 - m) + 0.5 * m


def build_vit(info: dict[str, Any], options: dict[str, Any]) -> ViTEncoder:
    """A :class:`ViTEncoder` for the images described by ``info``."""
    return ViTEncoder(int(info["channels"]), int(info["image_size"]), options["patch_size"], options["dim"],
                      options["depth"], options["heads"], options["targets"])
