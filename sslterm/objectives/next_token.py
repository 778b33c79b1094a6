"""Autoregressive prediction: from the tokens up to t, predict what token t + k holds.

Radford, Narasimhan, Salimans, Sutskever, "Improving Language Understanding by Generative
Pre-Training", OpenAI 2018 (discrete tokens); van den Oord, Kalchbrenner, Kavukcuoglu, "Pixel
Recurrent Neural Networks", ICML 2016 (pixels); Chung, Hsu, Tang, Glass, "An Unsupervised
Autoregressive Model for Speech Representation Learning" (APC), Interspeech 2019 (continuous frames).

The encoder runs causally, so h_t depends on inputs ≤ t only, and a head predicts the target of the
token ``shift`` steps ahead (k = 1 is next-token prediction; APC uses k ≥ 1):

    loss = mean over valid pairs (t, t + k) of ℓ(g(h_t), y_{t+k}),

with ℓ the cross-entropy for discrete targets (reported also as bits per token, CE / ln 2) and the
squared or absolute error for continuous ones (optionally on per-token standardised targets, as in
MAE: ``normalize_targets``). Where the data says how many bytes each token spells
(text prepared into a token stream: bytes or a BPE), the loss is also reported in bits per byte,
Σ CE / ln 2 over the predicted tokens divided by Σ of their bytes, so tokenisers compare.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sslterm import catalog
from sslterm.augment import clean_targets
from sslterm.data import Batch
from sslterm.models.transformer import masked_mean
from sslterm.objectives.base import Augment, Context, Loss, Objective
from sslterm.objectives.masked import split_batch
from sslterm.objectives.tokens import prediction_loss, target_size, token_head


def shift_pairs(h: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None,
                shift: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Align features at t with targets at t + shift: (h [B, T−k, D], y [B, T−k, ·], pair validity [B, T−k])."""
    t = h.shape[1]
    if t <= shift:
        raise ValueError(f"sequences of {t} tokens are too short to predict {shift} step(s) ahead")
    if valid is None:
        pair_valid = torch.ones(h.shape[0], t - shift, dtype=torch.bool, device=h.device)
    else:
        pair_valid = valid[:, :-shift] & valid[:, shift:]
    return h[:, :-shift], targets[:, shift:], pair_valid


_DEFAULTS = catalog.get("objective", "next_token").defaults()
"""NextToken's defaults: the catalog declares them, once."""


def token_byte_table(info: dict[str, Any]) -> torch.Tensor | None:
    """Bytes each token id spells, float [V] (PAD and MASK 0), or None where the data does not say.

    From ``info['token_bytes']`` (a BPE: one length per id), else ``info['bytes_per_token']`` for every
    id past PAD and MASK (bytes: 1).
    """
    if "token_bytes" in info:
        return torch.tensor(info["token_bytes"], dtype=torch.float32)
    per = float(info.get("bytes_per_token", 0))
    if not per or "vocab_size" not in info:
        return None
    table = torch.full((int(info["vocab_size"]),), per)
    table[:2] = 0                                                             # text.PAD, text.MASK
    return table


class NextToken(Objective):
    """Causal next-token (or k-ahead) prediction on an encoder with a causal mode.

    Shapes: causal tokens h [B, T, D]; head [B, T−k, D] → [B, T−k, V] logits or [B, T−k, P]
    regressions of ``token_targets`` shifted by k. Metrics: ``bits_per_token`` and ``next_acc`` for
    discrete targets, and ``bits_per_byte`` where the data says how many bytes each token spells
    (:func:`token_byte_table`); held out, it is weighted by those bytes (:meth:`metric_weights`), so it
    is Σ bits / Σ bytes over every predicted held-out token.
    """

    def __init__(self, ctx: Context, shift: int = _DEFAULTS["shift"], loss: str = _DEFAULTS["loss"],
                 head_hidden: int = _DEFAULTS["head_hidden"],
                 normalize_targets: bool = _DEFAULTS["normalize_targets"],
                 causal_features: bool = _DEFAULTS["causal_features"]) -> None:
        super().__init__(ctx)
        catalog.check_args("objective", "next_token", shift=shift, loss=loss, head_hidden=head_hidden)
        self.shift, self.loss_kind, self.normalize_targets = shift, loss, normalize_targets
        self.causal_features = causal_features
        self.token_bytes: torch.Tensor | None
        self.register_buffer("token_bytes", token_byte_table(ctx.info), persistent=False)   # [V] or None
        self.head = token_head(ctx.encoder.token_dim, target_size(ctx.encoder, ctx.info), head_hidden)

    @torch.no_grad()
    def features(self, batch: Batch) -> torch.Tensor:
        """The encoder's output [B, D]; with ``causal_features`` the mean of its causal tokens (as it was trained)."""
        if not self.causal_features:
            return super().features(batch)
        x, rest = split_batch(batch)
        return masked_mean(self.encoder.tokens(x, causal=True, **rest), self.encoder.valid_tokens(x, **rest))

    def target_count(self, batch: Batch) -> torch.Tensor:
        """The valid (t, t + k) pairs of a clean batch: each is one predicted token."""
        x, rest = split_batch(batch)
        valid = self.encoder.valid_tokens(x, **rest)
        if valid is None:                                   # every example has as many pairs
            return torch.tensor(float(x.shape[0]), device=x.device)
        return (valid[:, :-self.shift] & valid[:, self.shift:]).sum().float()

    def metric_weights(self, batch: Batch) -> dict[str, torch.Tensor]:
        """``bits_per_byte`` is weighted by the bytes the batch's predicted tokens spell."""
        if self.token_bytes is None:
            return {}
        x, rest = split_batch(batch)
        targets = self.encoder.token_targets(x, **rest)
        if targets.is_floating_point():
            return {}
        valid = self.encoder.valid_tokens(x, **rest)
        ahead = targets[:, self.shift:]                                         # [B, T−k]
        pairs = (torch.ones_like(ahead, dtype=torch.bool) if valid is None
                 else valid[:, :-self.shift] & valid[:, self.shift:])
        return {"bits_per_byte": self.spelled(ahead, pairs)}

    def spelled(self, targets: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """Bytes spelled by the ``targets`` [B, T'] that ``pairs`` [B, T'] selects."""
        assert self.token_bytes is not None
        return (self.token_bytes[targets] * pairs).sum()

    def predict(self, x: torch.Tensor, clean: Batch | None = None,
                **rest: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(predictions for t + k from tokens ≤ t, their targets, pair validity), each over T − k positions.

        The targets and their validity come from ``clean`` (the uncorrupted batch) when given, else from x.
        """
        h = self.encoder.tokens(x, causal=True, **rest)                       # [B, T, D], causal
        xt, rest_t = split_batch(clean) if clean is not None else (x, rest)
        targets = self.encoder.token_targets(xt, **rest_t)                    # [B, T, P] or [B, T]
        h, targets, weight = shift_pairs(h, targets, self.encoder.valid_tokens(xt, **rest_t), self.shift)
        return self.head(h), targets, weight

    def forward(self, batch: Batch, augment: Augment, gen: torch.Generator) -> Loss:
        clean, corrupted = clean_targets(augment, batch, gen)                 # targets never augmented
        x, rest = split_batch(corrupted)
        pred, targets, weight = self.predict(x, clean, **rest)
        loss, acc = prediction_loss(pred, targets, weight, self.normalize_targets, kind=self.loss_kind)
        if acc is None:
            return loss, {}
        bits = loss.detach() / math.log(2)
        extra = {"bits_per_token": bits, "next_acc": acc.detach()}
        if self.token_bytes is not None:                       # Σ bits / Σ bytes of the predicted tokens
            extra["bits_per_byte"] = bits * weight.sum() / self.spelled(targets, weight).clamp(min=1)
        return loss, extra
