"""VICReg: variance-invariance-covariance regularisation of two views' embeddings.

Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised
Learning", ICLR 2022. For expander outputs Z, Z' [B, D] of two views,

    s(Z, Z')  = 1/(B·D) Σ_i ‖z_i − z'_i‖²                               (invariance, MSE)
    v(Z)      = 1/D Σ_j max(0, γ − √(Var(z^j) + ε))                     (variance hinge, γ = 1)
    c(Z)      = 1/D Σ_{i≠j} C(Z)_ij²,  C(Z) = 1/(B−1) Σ_n (z_n − z̄)(z_n − z̄)ᵀ   (covariance)
    loss      = λ·s(Z, Z') + μ·½[v(Z) + v(Z')] + ν·[c(Z) + c(Z')],

with λ = μ = 25, ν = 1. As in the authors' released code, the variance term is averaged over the two
branches and the covariance term summed (the paper's equation sums both; the coefficients were
tuned with the code).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslterm import catalog
from sslterm.data import Batch
from sslterm.models import Projector
from sslterm.objectives.base import Augment, Context, Loss, Objective
from sslterm.objectives.infonce import concat_views
from sslterm.utils.dist import gather


def _check_pair(z1: torch.Tensor, z2: torch.Tensor, method: str) -> None:
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"expected two [B, D] tensors of one shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError(f"{method} needs at least 2 examples per batch (it uses batch statistics)")


def invariance_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between the two views' embeddings [B, D]."""
    return F.mse_loss(z1, z2)


def variance_loss(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """Hinge on each dimension's batch std: mean_j max(0, γ − √(Var(z^j) + ε)) for z [B, D]."""
    std = (z.var(dim=0) + eps).sqrt()
    return F.relu(gamma - std).mean()


def covariance_loss(z: torch.Tensor) -> torch.Tensor:
    """Sum of squared off-diagonal covariances over the dimension D, for z [B, D]."""
    b, d = z.shape
    zc = z - z.mean(dim=0)
    cov = zc.T @ zc / (b - 1)                                   # [D, D]
    off = cov - torch.diag_embed(cov.diagonal())
    return off.pow(2).sum() / d


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor, gamma: float = 1.0,
                 eps: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(invariance, variance averaged over views, covariance summed over views), unweighted."""
    _check_pair(z1, z2, "VICReg")
    inv = invariance_loss(z1, z2)
    var = 0.5 * (variance_loss(z1, gamma, eps) + variance_loss(z2, gamma, eps))
    cov = covariance_loss(z1) + covariance_loss(z2)
    return inv, var, cov


_DEFAULTS = catalog.get("objective", "vicreg").defaults()
"""VICReg's defaults: the catalog declares them, once."""


class VICReg(Objective):
    """VICReg: expander (Projector) on pooled features, loss λ·invariance + μ·variance + ν·covariance.

    Shapes: encoder [B, ...] → [B, F]; expander [B, F] → [B, D] (D = ``ctx.projector_dim``).
    Metrics: the unweighted ``invariance``, ``variance`` and ``covariance`` terms.
    """

    def __init__(self, ctx: Context, sim_coeff: float = _DEFAULTS["sim_coeff"],
                 std_coeff: float = _DEFAULTS["std_coeff"], cov_coeff: float = _DEFAULTS["cov_coeff"],
                 gamma: float = _DEFAULTS["gamma"], eps: float = _DEFAULTS["eps"]) -> None:
        super().__init__(ctx)
        catalog.check_args("objective", "vicreg", sim_coeff=sim_coeff, std_coeff=std_coeff, cov_coeff=cov_coeff,
                           gamma=gamma, eps=eps)
        self.sim_coeff, self.std_coeff, self.cov_coeff = sim_coeff, std_coeff, cov_coeff
        self.gamma, self.eps = gamma, eps
        self.expander = Projector(ctx.encoder.out_dim, ctx.projector_hidden, ctx.projector_dim)

    def forward(self, batch: Batch, augment: Augment, gen: torch.Generator) -> Loss:
        views = concat_views(augment(batch, gen), augment(batch, gen))   # [2B, ...]
        z1, z2 = self.expander(self.encoder(**views)).chunk(2)             # [B, D] each
        inv, var, cov = vicreg_terms(gather(z1), gather(z2), self.gamma, self.eps)   # global-batch statistics
        loss = self.sim_coeff * inv + self.std_coeff * var + self.cov_coeff * cov
        return loss, {"invariance": inv.detach(), "variance": var.detach(), "covariance": cov.detach()}

    @torch.no_grad()
    def embed(self, batch: Batch) -> torch.Tensor:
        """The expander's output [B, D]."""
        return self.expander(self.encoder(**batch))
