"""Barlow Twins: make the cross-correlation of two views' embeddings the identity matrix.

Zbontar, Jing, Misra, LeCun, Deny, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
ICML 2021. For projector outputs Z, Z' [B, D], each dimension standardised over the batch
(ẑ = (z − mean) / std, the batch norm without affine parameters), the cross-correlation

    C_ij = 1/B Σ_b ẑ_b,i ẑ'_b,j        [D, D]
    loss = Σ_i (1 − C_ii)² + λ Σ_i Σ_{j≠i} C_ij²,

pulls the diagonal to 1 (invariance to the augmentations) and the off-diagonal to 0 (redundancy
reduction), λ = 5·10⁻³.
"""

from __future__ import annotations

import torch

from sslterm import catalog
from sslterm.data import Batch
from sslterm.models import Projector
from sslterm.objectives.base import Augment, Context, Loss, Objective
from sslterm.objectives.infonce import concat_views
from sslterm.utils.dist import gather


def batch_standardize(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each dimension of z [B, D] to zero mean and unit (biased) variance over the batch."""
    return (z - z.mean(dim=0)) / (z.var(dim=0, unbiased=False) + eps).sqrt()


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """C [D, D] between the batch-standardised embeddings of two views [B, D]."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"expected two [B, D] tensors of one shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError("Barlow Twins needs at least 2 examples per batch (it standardises over the batch)")
    return batch_standardize(z1).T @ batch_standardize(z2) / z1.shape[0]


def on_diagonal_loss(c: torch.Tensor) -> torch.Tensor:
    """Σ_i (1 − C_ii)²."""
    return (1 - c.diagonal()).pow(2).sum()


def off_diagonal_loss(c: torch.Tensor) -> torch.Tensor:
    """Σ_{i≠j} C_ij²."""
    return c.pow(2).sum() - c.diagonal().pow(2).sum()


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5e-3) -> torch.Tensor:
    """Σ(1 − C_ii)² + λ Σ_{i≠j} C_ij² for two views' embeddings [B, D]."""
    c = cross_correlation(z1, z2)
    return on_diagonal_loss(c) + lambd * off_diagonal_loss(c)


_DEFAULTS = catalog.get("objective", "barlow_twins").defaults()
"""BarlowTwins's defaults: the catalog declares them, once."""


class BarlowTwins(Objective):
    """Barlow Twins on pooled features through a projector.

    Shapes: encoder [B, ...] → [B, F]; projector [B, F] → [B, D] (D = ``ctx.projector_dim``);
    C [D, D]. Metrics: ``on_diag`` Σ(1 − C_ii)² and ``off_diag`` Σ_{i≠j} C_ij² (unweighted).
    """

    def __init__(self, ctx: Context, lambd: float = _DEFAULTS["lambd"]) -> None:
        super().__init__(ctx)
        catalog.check_args("objective", "barlow_twins", lambd=lambd)
        self.lambd = lambd
        self.projector = Projector(ctx.encoder.out_dim, ctx.projector_hidden, ctx.projector_dim)

    def forward(self, batch: Batch, augment: Augment, gen: torch.Generator) -> Loss:
        views = concat_views(augment(batch, gen), augment(batch, gen))   # [2B, ...]
        z1, z2 = self.projector(self.encoder(**views)).chunk(2)            # [B, D] each
        c = cross_correlation(gather(z1), gather(z2))                      # [D, D] over the global batch
        on, off = on_diagonal_loss(c), off_diagonal_loss(c)
        return on + self.lambd * off, {"on_diag": on.detach(), "off_diag": off.detach()}

    @torch.no_grad()
    def embed(self, batch: Batch) -> torch.Tensor:
        """The projector's output [B, D]."""
        return self.projector(self.encoder(**batch))
