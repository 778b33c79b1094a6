"""A video encoder: a per-frame CNN, then a (optionally causal) transformer over the frames."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sslterm import catalog
from sslterm.models.base import Encoder
from sslterm.models.cnn import CNNEncoder
from sslterm.models.transformer import TransformerStack

TARGETS = ("frames", "change", "both", "motion")
"""What a frame token's target is: its pooled pixels, their change since the previous frame, both, or
where it changed, whatever the colours (motion)."""
DIFF_GAIN = 4.0
"""Frame changes are sparse and small next to the frames themselves; amplified so that motion is
not drowned out at initialisation (temporal order is learned several times faster)."""


def group_norm_instead_of_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d in ``module``, in place, by a one-group GroupNorm (statistics of each frame alone).

    Batch norm in training mode pools statistics over the batch, and so over the frames of a clip:
    the one path by which a future frame reaches a past one (a mean over B·T·H·W values, so a faint
    one). Group norm keeps frames strictly apart, at some cost in how fast motion is learned.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            c = child.num_features
            setattr(module, name, nn.GroupNorm(1, c))
        else:
            group_norm_instead_of_batch_norm(child)
    return module


_DEFAULTS = catalog.get("encoder", "frame_transformer").defaults()
"""FrameTransformer's defaults: the catalog declares them, once."""


class FrameTransformer(Encoder):
    """Per-frame CNN → feature map pooled to ``grid``² cells and flattened, so frame features
    [B, T, c·grid²] keep where things are (motion is a change of place) → linear to ``dim`` + learned
    temporal positions → transformer over frames (causal on request) → mean over frames [B, dim].

    Tokens are frames: ``tokens`` is [B, T, dim]; ``token_targets`` is each frame average-pooled
    to ``target_size``² cells, flattened: [B, T, C·target_size²] (or its change since the previous frame,
    or both: ``targets``); ``hide`` greys out (0.5) whole
    frames; ``token_grid`` is (T,). In causal mode frame t attends to frames ≤ t only; with
    ``frame_diff`` frame t also sees its change since frame t-1. With ``norm = "batch"`` training-mode
    batch statistics are the only (faint) path from later frames; ``norm = "group"`` closes it.
    """

    def __init__(self, channels: int, frames: int, width: int = _DEFAULTS["width"], stages: int = _DEFAULTS["stages"],
                 stem_stride: int = _DEFAULTS["stem_stride"], dim: int = _DEFAULTS["dim"],
                 depth: int = _DEFAULTS["depth"], heads: int = _DEFAULTS["heads"], grid: int = _DEFAULTS["grid"],
                 target_size: int = _DEFAULTS["target_size"], norm: str = _DEFAULTS["norm"],
                 frame_diff: bool = _DEFAULTS["frame_diff"], targets: str = _DEFAULTS["targets"]) -> None:
        super().__init__()
        if frames < 1 or channels < 1:
            raise ValueError(f"frames and channels must be ≥ 1, got {frames} and {channels}")
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        if target_size < 1 or grid < 1:
            raise ValueError(f"target_size and grid must be ≥ 1, got {target_size} and {grid}")
        if norm not in ("group", "batch"):
            raise ValueError(f"norm must be 'group' or 'batch', got {norm!r}")
        if targets not in TARGETS:
            raise ValueError(f"targets must be one of {', '.join(TARGETS)}, got {targets!r}")
        self.targets = targets
        self.frame_diff = frame_diff
        self.cnn = CNNEncoder(channels * (2 if frame_diff else 1), width, stages, 1, stem_stride)
        if norm == "group":
            group_norm_instead_of_batch_norm(self.cnn)
        self.proj = nn.Linear(self.cnn.out_dim * grid * grid, dim)
        self.pos = nn.Parameter(torch.randn(1, frames, dim) * 0.02)
        self.transformer = TransformerStack(dim, depth, heads)
        self.frames, self.grid, self.target_size = frames, grid, target_size
        self.out_dim = self.token_dim = dim
        self.token_grid = (frames,)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 5 or x.shape[1] > self.frames:
            raise ValueError(f"expected clips [B, T ≤ {self.frames}, C, H, W], got shape {tuple(x.shape)}")

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        """Each frame through the CNN independently: [B, T, C, H, W] → [B, T, c·grid²]."""
        self._check(x)
        b, t = x.shape[:2]
        if self.frame_diff:                      # frame t and its change since frame t-1 (none for t = 0)
            change = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
            x = torch.cat([x, (DIFF_GAIN * change + 1) / 2], dim=2)                  # [B, T, 2C, H, W]
        cells = F.adaptive_avg_pool2d(self.cnn.feature_map(x.flatten(0, 1)), self.grid)   # [B·T, c, g, g]
        return cells.reshape(b, t, -1)

    def tokens(self, x: torch.Tensor, causal: bool = False, **_: torch.Tensor) -> torch.Tensor:
        """One token per frame: [B, T, dim]; with ``causal`` frame t sees frames ≤ t only."""
        h = self.proj(self.frame_features(x)) + self.pos[:, : x.shape[1]]
        return self.transformer(h, causal=causal)

    def forward(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return self.tokens(x).mean(dim=1)                                  # [B, dim]

    def token_targets(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        """Each frame average-pooled to target_size × target_size: [B, T, C·target_size²] (``targets = "frames"``);
        its pooled change since the previous frame (zero for the first) with ``"change"``; both, [B, T, 2·C·s²];
        with ``"motion"`` where the frame changed, in any colour: the absolute change since the previous frame
        averaged over channels and pooled, [B, T, s²] (motion energy: which colours the shape and the
        background have does not enter it)."""
        self._check(x)
        b, t = x.shape[:2]
        if self.targets == "motion":
            energy = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1).abs().mean(dim=2)
            return F.adaptive_avg_pool2d(energy, self.target_size).view(b, t, -1)         # [B, T, s²]
        pooled = F.adaptive_avg_pool2d(x.flatten(0, 1), self.target_size).view(b, t, -1)
        if self.targets == "frames":
            return pooled
        change = torch.cat([torch.zeros_like(pooled[:, :1]), pooled[:, 1:] - pooled[:, :-1]], dim=1)
        return change if self.targets == "change" else torch.cat([pooled, change], dim=-1)

    def hide(self, x: torch.Tensor, mask: torch.Tensor, /, **_: torch.Tensor) -> torch.Tensor:
        """Grey out (0.5) every frame where ``mask`` [B, T] is True."""
        m = mask.to(x.dtype)[:, :, None, None, None]
        return x * (1 - m) + 0.5 * m


def build_frame_transformer(info: dict[str, Any], options: dict[str, Any]) -> FrameTransformer:
    """A :class:`FrameTransformer` for the clips described by ``info``, from its catalog options."""
    side = int(info["image_size"])
    reach = options["stem_stride"] * 2 ** (options["stages"] - 1)
    if side < reach:
        raise ValueError(f"image_size {side} is smaller than the frame CNN's total stride {reach}")
    if options["grid"] > side // reach:
        raise ValueError(f"grid {options['grid']} exceeds the frame CNN's {side // reach}×{side // reach} feature map")
    if options["target_size"] > side:
        raise ValueError(f"target_size {options['target_size']} exceeds the frames' image_size {side}")
    return FrameTransformer(int(info["channels"]), int(info["frames"]), options["width"], options["stages"],
                            options["stem_stride"], options["dim"], options["depth"], options["heads"],
                            options["grid"], options["target_size"], options["norm"], options["frame_diff"],
                            options["targets"])
