"""The encoder interface every architecture implements, and the token contract objectives use."""

from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    """Maps a batch to features: ``encoder(**batch)`` → pooled features [B, out_dim].

    Encoders declared with ``extra={"tokens": True}`` in the catalog also expose the *token
    contract* that masked prediction, inpainting and next-token objectives are written against,
    whatever the modality. A token is one position of the encoder's output sequence (an image
    patch or feature-map cell, a text token, an audio frame, a video frame, a graph node):

    - ``tokens(x, causal=False, **batch)`` → per-token features [B, T, token_dim]; with
      ``causal=True`` (only encoders declared ``"causal": True``) token t sees inputs ≤ t only.
    - ``token_targets(x, **batch)`` → what each token position holds in the input: float
      [B, T, P] (pixels of a patch, samples or mel bins of a frame, node features) or, when
      ``target_vocab`` is set, class ids [B, T] (text).
    - ``hide(x, mask, /, **batch)`` → the input with the positions of the tokens where ``mask``
      [B, T] is True made unobservable (zeroed pixels or samples, a mask token id, ...).
    - ``valid_tokens(x, **batch)`` → bool [B, T] of real positions (False for padding, e.g.
      padded graph nodes), or None when every position is real.
    - ``token_grid``: the tokens' layout, e.g. (H', W') for images, (T,) for sequences; its
      product is T. Inpainting hides contiguous blocks of this grid.
    """

    out_dim: int
    token_dim: int = 0
    token_grid: tuple[int, ...] = ()
    target_vocab: int | None = None

    def tokens(self, x: torch.Tensor, causal: bool = False, **batch: torch.Tensor) -> torch.Tensor:
        """Per-token features [B, T, token_dim]."""
        raise NotImplementedError(f"{type(self).__name__} has no per-token features")

    def token_targets(self, x: torch.Tensor, **batch: torch.Tensor) -> torch.Tensor:
        """What each token position holds: float [B, T, P], or ids [B, T] if ``target_vocab``."""
        raise NotImplementedError(f"{type(self).__name__} has no token targets")

    def hide(self, x: torch.Tensor, mask: torch.Tensor, /, **batch: torch.Tensor) -> torch.Tensor:
        """The input with the tokens where ``mask`` [B, T] is True made unobservable."""
        raise NotImplementedError(f"{type(self).__name__} cannot hide tokens")

    def valid_tokens(self, x: torch.Tensor, **batch: torch.Tensor) -> torch.Tensor | None:
        """Bool [B, T] of real token positions, or None if all are real."""
        return None
