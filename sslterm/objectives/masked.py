"""Masked prediction: hide random tokens and predict what they held, with the loss on hidden tokens only.

Devlin, Chang, Lee, Toutanova, "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding", NAACL 2019; He, Chen, Xie, Li, Dollár, Girshick, "Masked Autoencoders Are Scalable
Vision Learners", CVPR 2022; Xie, Zhang, Cao, Lin, Bao, Yao, Dai, Hu, "SimMIM: A Simple Framework for
Masked Image Modeling", CVPR 2022.

For an input x with token targets y [B, T, ·] (encoder.token_targets), a random mask M [B, T] hides a
fraction r of each example's valid tokens (at least one), the encoder reads x' = hide(x, M), and a
head predicts ŷ_t from each token feature h_t:

    loss = Σ_{b,t} M_bt·V_bt·ℓ(ŷ_bt, y_bt) / Σ_{b,t} M_bt·V_bt,

with V the valid positions and ℓ the cross-entropy for discrete targets (text ids, as in BERT) or
the squared error on per-token standardised targets for continuous ones (patch pixels, as in MAE,
or raw targets as in SimMIM). Unmasked and invalid positions do not enter the loss at all. With
``predict = "teacher"`` the targets are an EMA teacher's layer-normalised tokens of the clean input
instead (data2vec, V-JEPA; :mod:`sslterm.objectives.latent`), regressed with the squared error.
"""

from __future__ import annotations

import torch

from sslterm import catalog
from sslterm.augment import clean_targets
from sslterm.data import Batch
from sslterm.objectives.base import Augment, Context, Loss, Objective
from sslterm.objectives.latent import PREDICT, TeacherTokens
from sslterm.objectives.tokens import prediction_loss, random_token_mask, target_size, token_head


def split_batch(batch: Batch) -> tuple[torch.Tensor, Batch]:
    """``x`` and the rest of a batch (what the token contract's ``**batch`` receives)."""
    return batch["x"], {k: v for k, v in batch.items() if k != "x"}


def with_valid(mask: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """``mask`` [B, T] restricted to ``valid`` positions (all when None)."""
    return mask if valid is None else mask & valid


_DEFAULTS = catalog.get("objective", "masked").defaults()
"""MaskedPrediction's defaults: the catalog declares them, once."""


class MaskedPrediction(Objective):
    """Masked token prediction on any encoder with the token contract.

    Shapes: tokens h [B, T, token_dim]; head → [B, T, V] logits (``encoder.target_vocab`` = V) or
    [B, T, P] regressions of ``token_targets`` [B, T, P]. Metrics: ``masked_acc`` for discrete
    targets, ``mask_fraction`` (hidden share of valid tokens).
    """

    def __init__(self, ctx: Context, mask_ratio: float = _DEFAULTS["mask_ratio"],
                 normalize_targets: bool = _DEFAULTS["normalize_targets"],
                 head_hidden: int = _DEFAULTS["head_hidden"], predict: str = _DEFAULTS["predict"],
                 momentum: float = _DEFAULTS["momentum"]) -> None:
        super().__init__(ctx)
        catalog.check_args("objective", "masked", mask_ratio=mask_ratio, head_hidden=head_hidden, predict=predict,
                           momentum=momentum)
        self.mask_ratio = mask_ratio
        self.normalize_targets = normalize_targets
        self.teacher = TeacherTokens(ctx.encoder, momentum) if predict == PREDICT[1] else None
        out = ctx.encoder.token_dim if self.teacher is not None else target_size(ctx.encoder, ctx.info)
        self.head = token_head(ctx.encoder.token_dim, out, head_hidden)

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
        targets = (self.teacher(xt, **rest_t) if self.teacher is not None      # [B, T, D] latent targets
                   else self.encoder.token_targets(xt, **rest_t))             # [B, T, P] or [B, T]
        b, t = targets.shape[:2]
        mask = random_token_mask(valid, (b, t), self.mask_ratio, gen, x.device)  # [B, T], True = hidden
        h = self.encoder.tokens(self.encoder.hide(x, mask, **rest), causal=False, **rest)  # [B, T, D]
        weight = with_valid(mask, valid)
        normalize = self.normalize_targets and self.teacher is None            # latent targets are normalised
        loss, acc = prediction_loss(self.head(h), targets, weight, normalize)
        n_valid = b * t if valid is None else valid.sum().clamp(min=1)
        metrics = {"mask_fraction": weight.sum() / n_valid}
        if acc is not None:
            metrics["masked_acc"] = acc.detach()
        return loss, metrics

    def resume_at(self, step: int, total_steps: int) -> None:
        """The teacher's momentum after ``step`` (``predict = "teacher"``)."""
        if self.teacher is not None:
            self.teacher.resume_at(step, total_steps)

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        """Move the teacher toward the encoder (``predict = "teacher"``)."""
        if self.teacher is not None:
            self.teacher.follow(self.encoder, step, total_steps)
