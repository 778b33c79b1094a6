"""Rotation prediction: rotate each image by k·90° and classify k from the encoder's pooled features.

Gidaris, Singh, Komodakis, "Unsupervised Representation Learning by Predicting Image Rotations",
ICLR 2018. For an image x and k drawn uniformly from {0, 1, 2, 3},

    loss = CE(W·f(rot90(x, k)), k),

which the encoder can only solve by recognising what is upright: the objects' shape and pose.
Clips [B, T, C, H, W] are rotated frame by frame with one k per clip.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sslterm.data import Batch
from sslterm.objectives.base import Augment, Context, Loss, Objective
from sslterm.objectives.masked import split_batch

ROTATIONS = 4


def rotate_batch(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate each sample of x [B, ..., H, W] by k[b]·90° counter-clockwise (as torch.rot90), batched.

    All four rotations are made at once and each sample's is gathered, so there is no loop over
    samples. H must equal W.
    """
    h, w = x.shape[-2:]
    if h != w:
        raise ValueError(f"rotation needs square images (a 90° turn changes {h}×{w} to {w}×{h}); "
                         "resize or crop the data to a square")
    rotations = torch.stack([torch.rot90(x, r, dims=(-2, -1)) for r in range(ROTATIONS)])   # [4, B, ...]
    return rotations[k, torch.arange(x.shape[0], device=x.device)]


def rotation_views(x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(x rotated by k·90°, k) with k [B] uniform over {0, 1, 2, 3}, drawn from ``gen``."""
    k = torch.randint(ROTATIONS, (x.shape[0],), generator=gen, device=x.device)
    return rotate_batch(x, k), k


class RotationPrediction(Objective):
    """RotNet: a linear head on pooled features [B, F] → [B, 4] classifies the rotation.

    Input images [B, C, H, W] or clips [B, T, C, H, W] with H = W, rotated after the augmentations.
    Metric: ``rotation_acc``.
    """

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        size = ctx.info.get("image_size")
        if isinstance(size, (tuple, list)) and len(size) == 2 and size[0] != size[1]:
            raise ValueError(f"rotation needs square images, the data is {size[0]}×{size[1]}")
        self.head = nn.Linear(ctx.encoder.out_dim, ROTATIONS)

    def forward(self, batch: Batch, augment: Augment, gen: torch.Generator) -> Loss:
        x, rest = split_batch(augment(batch, gen))
        x_rot, k = rotation_views(x, gen)                                    # [B, ...], [B]
        logits = self.head(self.encoder(x_rot, **rest))                      # [B, 4]
        loss = F.cross_entropy(logits, k)
        chance = loss.detach().new_full((), math.log(4))                   # guessing among 4 rotations
        return loss, {"rotation_acc": (logits.detach().argmax(dim=1) == k).float().mean(), "chance_loss": chance}
