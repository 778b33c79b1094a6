"""BYOL: an online network predicts the projection an EMA target network makes of the other view.

Grill, Strub, Altché, Tallec, Richemond, Buchatskaya, Doersch, Pires, Guo, Azar, Piot, Kavukcuoglu,
Munos, Valko, "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning", NeurIPS 2020.

The online network is encoder f_θ → projector g_θ → predictor q_θ; the target network is an
exponential moving average (f_ξ, g_ξ) of the online encoder and projector, updated after every step
with ξ ← τ·ξ + (1 − τ)·θ, τ rising from τ_base to 1 along a cosine. For two views v, v',

    L = ‖q̄_θ(z_θ) − z̄'_ξ‖² = 2 − 2·cos(q_θ(z_θ), z'_ξ),      L^BYOL = L + L̃,

where bars are ℓ2-normalisations and L̃ swaps the views. No gradient flows into the target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslterm import catalog
from sslterm.data import Batch
from sslterm.models import Projector
from sslterm.objectives.base import Augment, Context, Loss, Objective
from sslterm.objectives.ema import cosine_momentum, ema_update, frozen_copy
from sslterm.objectives.infonce import concat_views
from sslterm.utils.diagnostics import embedding_std


def regression_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of 2 − 2·cos(p_i, z_i) for predictions p and targets z [B, D]."""
    if p.shape != z.shape or p.dim() != 2:
        raise ValueError(f"expected two [B, D] tensors of one shape, got {tuple(p.shape)} and {tuple(z.shape)}")
    return (2 - 2 * F.cosine_similarity(p, z, dim=1)).mean()


def byol_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Symmetric BYOL loss: view 1's prediction against view 2's target, plus the swap."""
    return regression_loss(p1, z2.detach()) + regression_loss(p2, z1.detach())


_DEFAULTS = catalog.get("objective", "byol").defaults()
"""BYOL's defaults: the catalog declares them, once."""


class BYOL(Objective):
    """BYOL with a cosine momentum schedule for its target network.

    Shapes: the encoder maps a view batch to [B, F]; projector [B, F] → [B, D]; predictor
    [B, D] → [B, D] (D = ``ctx.projector_dim``). Two views run through each network as one batch
    of 2B. Metrics: ``cos_sim`` (mean prediction-target cosine), ``z_std`` (collapse signal),
    ``momentum`` (the target's current τ).
    """

    def __init__(self, ctx: Context, momentum: float = _DEFAULTS["momentum"]) -> None:
        super().__init__(ctx)
        catalog.check_args("objective", "byol", momentum=momentum)
        self.base_momentum = momentum
        self.momentum = momentum
        self.projector = Projector(ctx.encoder.out_dim, ctx.projector_hidden, ctx.projector_dim)
        self.predictor = Projector(ctx.projector_dim, ctx.projector_hidden, ctx.projector_dim)
        self.target_encoder = frozen_copy(self.encoder)
        self.target_projector = frozen_copy(self.projector)

    def forward(self, batch: Batch, augment: Augment, gen: torch.Generator) -> Loss:
        views = concat_views(augment(batch, gen), augment(batch, gen))   # [2B, ...]
        z = self.projector(self.encoder(**views))                          # [2B, D] online projections
        p1, p2 = self.predictor(z).chunk(2)                                # [B, D] each
        with torch.no_grad():
            t1, t2 = self.target_projector(self.target_encoder(**views)).chunk(2)
        loss = byol_loss(p1, p2, t1, t2)
        with torch.no_grad():
            cos = 0.5 * (F.cosine_similarity(p1, t2, dim=1).mean() + F.cosine_similarity(p2, t1, dim=1).mean())
            tau = torch.full((), self.momentum, device=loss.device)
        return loss, {"cos_sim": cos, "z_std": embedding_std(z.detach()), "momentum": tau}

    def resume_at(self, step: int, total_steps: int) -> None:
        """The momentum after ``step`` (it is a function of the step, so checkpoints need not hold it)."""
        self.momentum = cosine_momentum(step, total_steps, self.base_momentum)

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        """Move the target toward the online network with τ from the cosine schedule."""
        self.resume_at(step, total_steps)
        ema_update(self.target_encoder, self.encoder, self.momentum)
        ema_update(self.target_projector, self.projector, self.momentum)

    @torch.no_grad()
    def embed(self, batch: Batch) -> torch.Tensor:
        """The online projector's output [B, D]."""
        return self.projector(self.encoder(**batch))
