"""Contrastive InfoNCE in two forms: SimCLR's NT-Xent (both views) and the cross-view form.

``both_views`` (the default): Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive
Learning of Visual Representations", ICML 2020. For embeddings z1, z2 [B, D] of two views of the
same B examples, with u = normalise(concat(z1, z2)) [2B, D] and s_ij = u_i·u_j / τ,

    loss = -1/(2B) Σ_i log( exp(s_{i,p(i)}) / Σ_{k≠i} exp(s_ik) ),   p(i) = i ± B,

so each view's positive is the other view of its example and the 2B − 2 other embeddings are
its negatives; chance level ln(2B − 1).

``cross_view``: van den Oord, Li, Vinyals, "Representation Learning with Contrastive Predictive
Coding", 2018, in the two-view form of CLIP (Radford et al. 2021). With a = normalise(z1),
c = normalise(z2) and logits = a @ c.T / τ [B, B], the diagonal is the positive:

    loss = ½ (CE(logits, diag) + CE(logits.T, diag)),

symmetrised, so each view's negatives are the B − 1 other examples' *other* view only; chance level
ln B. With the gather across processes B is the global batch in both forms.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sslterm import catalog
from sslterm.data import Batch
from sslterm.models import Projector
from sslterm.objectives.base import Augment, Context, Loss, Objective
from sslterm.utils.dist import gather

NEGATIVES = ("both_views", "cross_view")
"""The forms of :func:`info_nce`, as ``objective.negatives`` names them."""


def chance_loss(batch: int, negatives: str = "both_views") -> float:
    """The loss of embeddings that tell nothing apart: ln(2B − 1) for both views, ln B cross-view."""
    return math.log(2 * batch - 1) if negatives == "both_views" else math.log(batch)


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float,
             negatives: str = "both_views") -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE over two views [B, D]: returns (loss, accuracy of picking the positive), no sync."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"expected two [B, D] tensors of one shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    b = z1.shape[0]
    if b < 2:
        raise ValueError("InfoNCE needs at least 2 examples per batch (the others are the negatives)")
    if negatives not in NEGATIVES:
        raise ValueError(f"negatives = {negatives!r}; expected one of {', '.join(NEGATIVES)}")
    if negatives == "cross_view":
        return _cross_view(F.normalize(z1, dim=1), F.normalize(z2, dim=1), temperature)
    u = F.normalize(torch.cat([z1, z2]), dim=1)                     # [2B, D]
    logits = u @ u.T / temperature                                  # [2B, 2B]
    self_mask = torch.eye(2 * b, dtype=torch.bool, device=u.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b, device=u.device), torch.arange(0, b, device=u.device)])
    loss = F.cross_entropy(logits, target)
    acc = (logits.argmax(dim=1) == target).float().mean()
    return loss, acc


def _cross_view(a: torch.Tensor, c: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetrised cross-view InfoNCE of unit vectors a, c [B, D]: B − 1 negatives per view."""
    logits = a @ c.T / temperature                                  # [B, B], positives on the diagonal
    target = torch.arange(a.shape[0], device=a.device)
    loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    acc = ((logits.argmax(dim=1) == target).float().mean() + (logits.argmax(dim=0) == target).float().mean()) / 2
    return loss, acc


def concat_views(v1: Batch, v2: Batch) -> Batch:
    """Two views of a batch as one batch of 2B (one encoder pass, batch norm over both)."""
    return {k: torch.cat([v1[k], v2[k]]) for k in v1}


_DEFAULTS = catalog.get("objective", "infonce").defaults()
"""InfoNCE's defaults: the catalog declares them, once."""


class InfoNCE(Objective):
    """SimCLR: two augmented views, encoder, projector, InfoNCE with temperature τ (either form)."""

    def __init__(self, ctx: Context, temperature: float = _DEFAULTS["temperature"],
                 negatives: str = _DEFAULTS["negatives"]) -> None:
        super().__init__(ctx)
        catalog.check_args("objective", "infonce", temperature=temperature, negatives=negatives)
        self.temperature, self.negatives = temperature, negatives
        self.projector = Projector(ctx.encoder.out_dim, ctx.projector_hidden, ctx.projector_dim)

    def forward(self, batch: Batch, augment: Augment, gen: torch.Generator) -> Loss:
        views = concat_views(augment(batch, gen), augment(batch, gen))  # [2B, ...]
        z1, z2 = self.projector(self.encoder(**views)).chunk(2)          # [B, D] each
        z1, z2 = gather(z1), gather(z2)                                   # negatives from every process
        loss, acc = info_nce(z1, z2, self.temperature, self.negatives)
        chance = loss.detach().new_full((), chance_loss(z1.shape[0], self.negatives))     # a fill: no copy
        return loss, {"pos_acc": acc, "chance_loss": chance}

    @torch.no_grad()
    def embed(self, batch: Batch) -> torch.Tensor:
        return self.projector(self.encoder(**batch))
