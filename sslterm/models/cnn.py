"""A small ResNet-style convolutional encoder for images."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sslterm import catalog
from sslterm.models.base import Encoder


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and a residual connection."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.skip(x))


_DEFAULTS = catalog.get("encoder", "cnn").defaults()
"""CNNEncoder's defaults: the catalog declares them, once."""


class CNNEncoder(Encoder):
    """ResNet-style CNN: stem, ``stages`` stages that halve the resolution and double the width, GAP.

    Input [B, C, H, W] in [0, 1]; output features [B, width * 2**(stages-1)].
    """

    def __init__(self, in_channels: int = 3, width: int = _DEFAULTS["width"], stages: int = _DEFAULTS["stages"],
                 blocks: int = _DEFAULTS["blocks"], stem_stride: int = _DEFAULTS["stem_stride"]) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        layers: list[nn.Module] = []
        c = width
        for s in range(stages):
            c_out = width * 2**s
            for b in range(blocks):
                layers.append(BasicBlock(c, c_out, stride=2 if (s > 0 and b == 0) else 1))
                c = c_out
        self.body = nn.Sequential(*layers)
        self.out_dim = self.token_dim = c
        self.stride = stem_stride * 2 ** (stages - 1)            # pixels per token along each side
        self.in_channels = in_channels

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's output [B, c, H', W'] (H' = H / total stride)."""
        return self.body(self.stem(x * 2 - 1))

    def forward(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(2, 3))          # [B, c]

    def tokens(self, x: torch.Tensor, causal: bool = False, **_: torch.Tensor) -> torch.Tensor:
        """Each cell of the last feature map as a token: [B, H'·W', c] (convolutions are not causal)."""
        if causal:
            raise NotImplementedError("a CNN's feature-map cells see their neighbours; it has no causal mode")
        return self.feature_map(x).flatten(2).transpose(1, 2)

    def token_targets(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        """The pixels under each token: [B, H'·W', C·s·s] for stride s."""
        s = self.stride
        return F.unfold(x, kernel_size=s, stride=s).transpose(1, 2)

    def hide(self, x: torch.Tensor, mask: torch.Tensor, /, **_: torch.Tensor) -> torch.Tensor:
        """Grey out (0.5) the pixels of every masked token; mask is [B, H'·W']."""
        b, _channels, h, w = x.shape
        s = self.stride
        m = mask.view(b, 1, h // s, w // s).to(x.dtype)
        m = F.interpolate(m, scale_factor=s, mode="nearest")     # [B, 1, H, W]
        return x * (1 - m) + 0.5 * m


def build_cnn(info: dict[str, Any], options: dict[str, Any]) -> CNNEncoder:
    """A :class:`CNNEncoder` for the dataset described by ``info``, from its catalog options."""
    enc = CNNEncoder(int(info["channels"]), options["width"], options["stages"], options["blocks"],
                     options["stem_stride"])
    side = int(info["image_size"])
    if side % enc.stride:
        raise ValueError(f"image_size {side} is not a multiple of the encoder's total stride {enc.stride}")
    enc.token_grid = (side // enc.stride, side // enc.stride)
    return enc
