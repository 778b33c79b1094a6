"""Inpainting: hide one contiguous block of the token grid and reconstruct it from its surroundings.

Pathak, Krähenbühl, Donahue, Darrell, Efros, "Context Encoders: Feature Learning by Inpainting",
CVPR 2016.

Each example loses one contiguous block R of its token grid (a rectangle covering about ``region``
of an image's feature grid, a span of a sequence), at a random position. The encoder reads the
hidden input x' = hide(x, R); a decoder sees each token's feature h_t together with the context
vector c (the mean of the visible tokens' features, standing in for the paper's channel-wise fully
connected bottleneck) and predicts the token targets y_t:

    loss = 1/|R| Σ_{t ∈ R} ‖g([h_t, c]) − y_t‖²         (cross-entropy for discrete targets).

The paper adds an adversarial term to sharpen pixels; it matters for image quality, not for the
learned features, and is left out.
"""

from __future__ import annotations

import torch

from sslterm import catalog
from sslterm.augment import clean_targets
from sslterm.data import Batch
from sslterm.models.transformer import masked_mean
from sslterm.objectives.base import Augment, Context, Loss, Objective
from sslterm.objectives.masked import split_batch, with_valid
from sslterm.objectives.tokens import block_mask, prediction_loss, target_size, token_head


def with_context(h: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Each token's feature next to the mean of the visible tokens' features: [B, T, D] → [B, T, 2D]."""
    c = masked_mean(h, visible)                                             # [B, D]
    return torch.cat([h, c.unsqueeze(1).expand_as(h)], dim=-1)


_DEFAULTS = catalog.get("objective", "inpainting").defaults()
"""Inpainting's defaults: the catalog declares them, once."""


class Inpainting(Objective):
    """Context-encoder inpainting of one contiguous block of tokens per example.

    Shapes: tokens h [B, T, D] over ``encoder.token_grid`` (product T); decoder [B, T, 2D] →
    [B, T, P] (or [B, T, V] logits when ``encoder.target_vocab`` = V). Metrics: ``inpaint_acc``
    for discrete targets, ``region_fraction`` (hidden share of valid tokens).
    """

    def __init__(self, ctx: Context, region: float = _DEFAULTS["region"],
                 normalize_targets: bool = _DEFAULTS["normalize_targets"],
                 head_hidden: int = _DEFAULTS["head_hidden"]) -> None:
        super().__init__(ctx)
        catalog.check_args("objective", "inpainting", region=region, head_hidden=head_hidden)
        self.region = region
        if not ctx.encoder.token_grid:
            raise ValueError(f"{type(ctx.encoder).__name__} declares no token_grid; inpainting needs one")
        self.normalize_targets = normalize_targets
        d = ctx.encoder.token_dim
        self.decoder = token_head(2 * d, target_size(ctx.encoder, ctx.info), head_hidden)

    def target_count(self, batch: Batch) -> torch.Tensor:
        """The valid tokens of a clean batch (the hidden share of them is the same fraction in every batch)."""
        x, rest = split_batch(batch)
        valid = self.encoder.valid_tokens(x, **rest)
        return torch.tensor(float(x.shape[0]), device=x.device) if valid is None else valid.sum().float()

    def forward(self, batch: Batch, augment: Augment, gen: torch.Generator) -> Loss:
        clean, corrupted = clean_targets(augment, batch, gen)                 # targets never augmented
        x, rest = split_batch(corrupted)
        xt, rest_t = split_batch(clean)
        valid = self.encoder.valid_tokens(xt, **rest_t)                       # [B, T] or None
        targets = self.encoder.token_targets(xt, **rest_t)                    # [B, T, P] or [B, T]
        b, t = targets.shape[:2]
        hidden = block_mask(self.encoder.token_grid, b, self.region, gen, x.device, valid)  # [B, T]
        h = self.encoder.tokens(self.encoder.hide(x, hidden, **rest), causal=False, **rest)  # [B, T, D]
        pred = self.decoder(with_context(h, with_valid(~hidden, valid)))
        weight = with_valid(hidden, valid)
        loss, acc = prediction_loss(pred, targets, weight, self.normalize_targets)
        n_valid = b * t if valid is None else valid.sum().clamp(min=1)
        metrics = {"region_fraction": weight.sum() / n_valid}
        if acc is not None:
            metrics["inpaint_acc"] = acc.detach()
        return loss, metrics
