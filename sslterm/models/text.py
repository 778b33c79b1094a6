"""A byte-level transformer encoder for token ids, with the full token contract."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sslterm import catalog
from sslterm.models.base import Encoder
from sslterm.models.transformer import TransformerStack, masked_mean

PAD, MASK = 0, 1


_DEFAULTS = catalog.get("encoder", "transformer").defaults()
"""TextTransformer's defaults: the catalog declares them, once."""


class TextTransformer(Encoder):
    """Token and learned position embeddings, a pre-norm transformer stack, mean pooling over real tokens.

    Input ids [B, L] (L ≤ ``seq_len``; 0 = PAD, only at the end of a row; 1 = MASK); tokens
    [B, L, dim]; pooled features [B, dim]. PAD keys are never attended to and PAD positions are
    left out of the pooled mean, so padding does not change the features of the real tokens.
    """

    def __init__(self, vocab_size: int, seq_len: int, dim: int = _DEFAULTS["dim"], depth: int = _DEFAULTS["depth"],
                 heads: int = _DEFAULTS["heads"]) -> None:
        super().__init__()
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be ≥ 3 (PAD, MASK and one real id), got {vocab_size}")
        if seq_len < 1:
            raise ValueError(f"seq_len must be ≥ 1, got {seq_len}")
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.randn(1, seq_len, dim) * 0.02)
        self.stack = TransformerStack(dim, depth, heads)
        self.out_dim = self.token_dim = dim
        self.seq_len = seq_len
        self.target_vocab = vocab_size
        self.token_grid = (seq_len,)
        nn.init.normal_(self.embed.weight, std=0.02)

    def tokens(self, x: torch.Tensor, causal: bool = False, **_: torch.Tensor) -> torch.Tensor:
        """Per-token features [B, L, dim]; with ``causal`` token t attends to tokens ≤ t only.

        Causal attention needs no padding mask: PAD comes after every real token, so no real token
        can see it, and every row sees at least itself. Without ``causal``, PAD keys are masked,
        except in an all-PAD row (which would otherwise attend to nothing and give NaN).
        """
        t = x.shape[1]
        if t > self.seq_len:
            raise ValueError(f"sequence of {t} tokens is longer than the encoder's seq_len {self.seq_len}")
        h = self.embed(x) + self.pos[:, :t]                                # [B, L, D]
        if causal:
            return self.stack(h, causal=True)
        pad = x == PAD
        pad = pad & ~pad.all(dim=1, keepdim=True)
        return self.stack(h, key_padding=pad)

    def forward(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return masked_mean(self.tokens(x), x != PAD)                       # [B, D]

    def token_targets(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        """The ids themselves [B, L], classes of ``target_vocab`` (PAD where there is no token)."""
        return x

    def hide(self, x: torch.Tensor, mask: torch.Tensor, /, **_: torch.Tensor) -> torch.Tensor:
        """Replace the tokens where ``mask`` [B, L] is True by MASK (PAD stays PAD)."""
        return torch.where(mask & (x != PAD), MASK, x)

    def valid_tokens(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        """True at real tokens (MASK included), False at PAD: [B, L]."""
        return x != PAD


def build_text_transformer(info: dict[str, Any], options: dict[str, Any]) -> TextTransformer:
    """A :class:`TextTransformer` for the dataset described by ``info``, from its catalog options."""
    return TextTransformer(int(info["vocab_size"]), int(info["seq_len"]), int(options["dim"]),
                           int(options["depth"]), int(options["heads"]))
