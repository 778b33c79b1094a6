"""Text augmentations over batches of token ids [B, L] on the device, with per-sample randomness.

Ids follow :mod:`sslterm.data.text`: 0 is PAD (only at the end of a row), 1 is MASK. Every function
keeps the batch's shape, never touches PAD positions (deletion shifts the kept tokens left and pads
the end, so PAD stays a suffix), and is the identity at zero strength. Every random choice is a
tensor drawn from the generator: no Python loop over samples.
"""

from __future__ import annotations

from typing import Any

import torch

PAD, MASK = 0, 1


def _rand(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Uniform [0, 1) noise of x's shape, on x's device."""
    return torch.rand(x.shape, generator=gen, device=x.device)


def token_dropout(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Dropout noise: replace each real token by MASK with probability p."""
    hit = (_rand(x, gen) < p["p"]) & (x != PAD)
    return torch.where(hit, MASK, x)


def span_masking(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Replace ``spans`` random spans per row, together about ``fraction`` of its tokens, by MASK.

    Each span has round(fraction · length / spans) tokens (at least one when fraction > 0) and a
    start drawn uniformly among the positions where it fits inside the row's real tokens.
    """
    b, t = x.shape
    spans = int(p["spans"])
    valid = x != PAD
    length = valid.sum(1, keepdim=True)                                   # [B, 1]
    span = (length * p["fraction"] / spans).round()
    if p["fraction"] > 0:
        span = span.clamp(min=1)
    span = torch.minimum(span, length).long()                             # [B, 1]
    room = (length - span + 1).clamp(min=1)                               # possible starts
    start = (torch.rand(b, spans, generator=gen, device=x.device) * room).long()  # [B, S]
    pos = torch.arange(t, device=x.device)[None, None]                    # [1, 1, L]
    covered = ((pos >= start[..., None]) & (pos < (start + span)[..., None])).any(1)  # [B, L]
    return torch.where(covered & valid, MASK, x)


def token_deletion(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Delete each real token with probability p; the kept ones shift left in order, PAD fills the end.

    A row keeps at least its first token, so no sequence becomes empty. A stable sort on
    "deleted" moves the kept tokens to the front without reordering them.
    """
    valid = x != PAD
    keep = valid & (_rand(x, gen) >= p["p"])
    none_kept = ~keep.any(1)
    keep[:, 0] |= none_kept & valid[:, 0]
    order = torch.sort((~keep).to(torch.uint8), dim=1, stable=True).indices
    out = x.gather(1, order)
    n_keep = keep.sum(1, keepdim=True)
    return torch.where(torch.arange(x.shape[1], device=x.device) < n_keep, out, PAD)


def token_substitution(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Replace each real token with probability p by a real token drawn uniformly from the whole batch.

    The replacement is the k-th real token of the flattened batch for a uniform k, found with a
    search in the running count of real tokens, so no vocabulary size is needed and nothing syncs.
    """
    flat = x.flatten()
    real = flat > MASK
    count = real.long().cumsum(0)                                          # [B·L] running count
    total = count[-1:]                                                     # [1]
    k = (torch.rand(flat.shape, generator=gen, device=x.device) * total).long()  # [B·L] in [0, total)
    src = torch.searchsorted(count, k, right=True).clamp(max=flat.numel() - 1)
    hit = (_rand(x, gen) < p["p"]) & (x != PAD) & (total > 0)
    return torch.where(hit, flat[src].view_as(x), x)


def span_crop(x: torch.Tensor, p: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Keep one random contiguous span of each row, moved to the start; PAD fills the rest.

    The span holds a uniform fraction in [min_fraction, 1] of the row's real tokens (at least one)
    at a uniform position among those where it fits.
    """
    b, t = x.shape
    length = (x != PAD).sum(1, keepdim=True)                              # [B, 1]
    frac = p["min_fraction"] + (1 - p["min_fraction"]) * torch.rand(b, 1, generator=gen, device=x.device)
    keep = torch.minimum((length * frac).round().long().clamp(min=1), length)
    start = (torch.rand(b, 1, generator=gen, device=x.device) * (length - keep + 1)).long()
    pos = torch.arange(t, device=x.device)[None]                          # [1, L]
    out = x.gather(1, (start + pos).clamp(max=t - 1))
    return torch.where(pos < keep, out, PAD)
