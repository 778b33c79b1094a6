"""Temporal order prediction: shuffle equal segments of the time axis and classify the permutation.

Misra, Zitnick, Hebert, "Shuffle and Learn: Unsupervised Learning using Temporal Order
Verification", ECCV 2016; Lee, Huang, Singh, Yang, "Unsupervised Representation Learning by Sorting
Sequences", ICCV 2017.

The time axis (dim 1: frames of a clip [B, T, C, H, W], samples of a waveform [B, L], tokens of a
text [B, L]) is cut into n equal segments (a remainder shorter than a segment stays in place at the
end); each example's segments are reordered by one of the n! permutations π, drawn uniformly, and a
linear head on the pooled features classifies which. Padded rows (text) are cut over their own valid
length, so the trailing padding stays at the end and cannot give the order away:

    loss = CE(W·f(x_π), index of π).

Shuffle and Learn verifies order (a binary task) and Lee et al. classify permutations up to
reversal; this classifies all n! permutations. On byte-level text, ``cut = "words"`` cuts n runs of
whole words at spaces instead of equal segments (:func:`permute_words`): equal cuts split words, and
the odd junctions give the order away without the text's content being read. With ``per_segment``
each of the shuffled segments is encoded on its own by the shared encoder (as Shuffle and Learn and
OPN encode each frame) and the head reads their features side by side, W·[f(s_π1), ..., f(s_πn)]: a
waveform cut at arbitrary points shows a discontinuity at every cut, which the whole-input form can
classify without learning what the segments hold. ``gap`` silences the last share of every segment
before the shuffle, so that no boundary is seamless, not even in the original order (jigsaw's gaps
between tiles, Noroozi and Favaro, ECCV 2016).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from sslterm import catalog
from sslterm.data import Batch
from sslterm.data.text import BYTE_VOCAB, SPACE
from sslterm.objectives.base import Augment, Context, Loss, Objective
from sslterm.objectives.masked import split_batch
from sslterm.objectives.tokens import token_head


def permutation_table(n: int) -> torch.Tensor:
    """All n! orderings of n segments, in lexicographic order: [n!, n] (row 0 is the identity)."""
    return torch.tensor(list(itertools.permutations(range(n))), dtype=torch.long)


def permute_segments(x: torch.Tensor, order: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Reorder n equal segments of dim 1 of x [B, L, ...]: output segment i is input segment order[b, i].

    ``order`` [B, n]; ``lengths`` [B] is each row's valid length (all of L when None): row b is cut
    over its first ``lengths[b]`` positions, and positions past its last whole segment (the
    remainder and any padding) stay where they are. A row shorter than n stays as it is. One
    gather, no loop.
    """
    b, length = x.shape[:2]
    n = order.shape[1]
    if length < n:
        raise ValueError(f"cannot cut a time axis of {length} steps into {n} segments")
    if lengths is None:
        lengths = torch.full((b,), length, device=x.device)
    seg = (lengths // n).unsqueeze(1)                                     # [B, 1] per-row segment length
    j = torch.arange(length, device=x.device).unsqueeze(0)                # [1, L]
    within = j < n * seg                                                  # [B, L]
    step = seg.clamp(min=1)
    src = order.gather(1, (j // step).clamp(max=n - 1).expand(b, -1)) * step + j % step   # [B, L]
    src = torch.where(within, src, j)
    return x[torch.arange(b, device=x.device).unsqueeze(1), src]


def word_runs(x: torch.Tensor, n: int, lengths: torch.Tensor, sep: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(starts [B, n+1] of n runs of whole words, x [B, L+1] with a separator after each row's last token).

    Every run ends with its separator, so runs can be put in any order and rejoined: run k ends after
    the round(k·w/n)-th separator of a row of w words. A row of fewer than n words has empty runs.
    """
    b, length = x.shape
    pos = torch.arange(length + 1, device=x.device)                      # [L+1]
    ext = torch.cat([x, x.new_zeros(b, 1)], dim=1)
    ext = torch.where(pos == lengths[:, None], sep, ext)                 # [B, L+1] a separator at the end
    is_sep = (ext == sep) & (pos <= lengths[:, None])
    words = is_sep.sum(dim=1, keepdim=True)                              # [B, 1] ≥ 1
    rank = is_sep.long().cumsum(dim=1)                                   # [B, L+1] separators up to here
    want = (torch.arange(1, n, device=x.device) * words + n // 2) // n   # [B, n-1] words before cut k
    at = is_sep[:, None] & (rank[:, None] == want[..., None])            # [B, n-1, L+1]
    cut = torch.where(want > 0, at.long().argmax(dim=2) + 1, 0)          # just after that separator
    zero = torch.zeros(b, 1, dtype=torch.long, device=x.device)
    return torch.cat([zero, cut, lengths[:, None] + 1], dim=1), ext


def permute_words(x: torch.Tensor, order: torch.Tensor, lengths: torch.Tensor, sep: int) -> torch.Tensor:
    """Reorder n runs of whole words of token ids x [B, L]: output run i is input run order[b, i].

    Runs are cut at the separator ``sep`` (a space) and rejoined with one separator between them,
    so no cut splits a word and no junction looks unlike the text's own: the order shows only in
    which words follow which. Each row is cut over its first ``lengths[b]`` tokens; the padding stays.
    """
    b, length = x.shape
    n = order.shape[1]
    starts, ext = word_runs(x, n, lengths, sep)
    sizes = starts.diff(dim=1).gather(1, order)                          # [B, n] run sizes in output order
    ends = sizes.cumsum(dim=1)
    j = torch.arange(length + 1, device=x.device).expand(b, -1).contiguous()   # [B, L+1]
    run = torch.searchsorted(ends, j, right=True).clamp(max=n - 1)       # output run of each position
    src = starts[:, :-1].gather(1, order).gather(1, run) + j - (ends - sizes).gather(1, run)
    src = torch.where(j <= lengths[:, None], src, j).clamp(max=length)
    out = ext.gather(1, src)
    return torch.where(j >= lengths[:, None], x.new_zeros(()), out)[:, :length]   # the last separator dropped


def inverse_order(order: torch.Tensor) -> torch.Tensor:
    """The permutations that undo ``order`` [B, n] under :func:`permute_segments`."""
    return order.argsort(dim=1)


def order_views(x: torch.Tensor, table: torch.Tensor, gen: torch.Generator, lengths: torch.Tensor | None = None,
                sep: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x with its segments shuffled, the index [B] of each example's permutation in ``table``); with a
    separator ``sep``, runs of whole words (:func:`permute_words`) rather than equal segments."""
    label = torch.randint(table.shape[0], (x.shape[0],), generator=gen, device=x.device)
    if sep is None:
        return permute_segments(x, table[label], lengths), label
    if lengths is None:
        raise ValueError("temporal_order with cut = 'words' needs token ids (text), whose words it cuts at spaces")
    return permute_words(x, table[label], lengths, sep), label


def with_gaps(x: torch.Tensor, n: int, gap: float, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """x [B, L, ...] with the last ``gap`` share of each of its n segments (as :func:`permute_segments` cuts
    them) zeroed: a silent gap ends every segment."""
    b, length = x.shape[:2]
    if lengths is None:
        lengths = torch.full((b,), length, device=x.device)
    seg = (lengths // n).unsqueeze(1)                                     # [B, 1]
    j = torch.arange(length, device=x.device).unsqueeze(0)                # [1, L]
    keep = (seg.float() * (1 - gap)).ceil()                               # [B, 1] positions kept per segment
    silent = (j < n * seg) & (j % seg.clamp(min=1) >= keep)              # [B, L]
    return x.masked_fill(silent.view(b, length, *([1] * (x.dim() - 2))), 0)


def segment_batch(x: torch.Tensor, n: int) -> torch.Tensor:
    """x [B, L, ...] cut into n equal segments (a remainder dropped), stacked along the batch: [B·n, L // n, ...]."""
    b, length = x.shape[:2]
    seg = length // n
    return x[:, : n * seg].reshape(b, n, seg, *x.shape[2:]).flatten(0, 1)


def segment_rows(x: torch.Tensor, n: int, lengths: torch.Tensor, pad: int = 0) -> torch.Tensor:
    """Token ids x [B, L] cut into n equal segments over each row's own ``lengths`` [B] (as
    :func:`permute_segments` cuts them), one row per segment, padded with ``pad``: [B·n, S], S the
    longest segment. A row shorter than n gives segments of ``pad`` only."""
    b = x.shape[0]
    seg = (lengths // n).view(b, 1, 1)                                   # [B, 1, 1]
    width = max(int(seg.max()), 1)
    j = torch.arange(width, device=x.device).view(1, 1, -1)              # [1, 1, S]
    k = torch.arange(n, device=x.device).view(1, -1, 1)                  # [1, n, 1]
    src = (k * seg + j).clamp(max=x.shape[1] - 1).view(b, -1)            # [B, n·S]
    rows = x.gather(1, src).view(b, n, width)
    return torch.where(j < seg, rows, x.new_full((), pad)).flatten(0, 1)


def valid_lengths(valid: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """Each row's count of real positions [B] when ``valid`` [B, L] marks x's own time axis, else None.

    That is the case for token ids, whose tokens are x's positions (PAD only at the end of a row,
    so the count is a prefix length); an encoder whose tokens are frames of a spectrogram or of a
    clip pads nothing (its ``valid_tokens`` is None) and its rows are cut over their whole length.
    """
    if valid is None or valid.shape != x.shape[:2]:
        return None
    return valid.sum(dim=1)


_DEFAULTS = catalog.get("objective", "temporal_order").defaults()
"""TemporalOrder's defaults: the catalog declares them, once."""


class TemporalOrder(Objective):
    """Permutation classification over n time segments: linear head [B, F] → [B, n!].

    Input: anything with time on dim 1 (clips, waveforms, token ids). Metric: ``order_acc``.
    """

    permutations: torch.Tensor

    def __init__(self, ctx: Context, segments: int = _DEFAULTS["segments"],
                 per_segment: bool = _DEFAULTS["per_segment"], head_hidden: int = _DEFAULTS["head_hidden"],
                 cut: str = _DEFAULTS["cut"], gap: float = _DEFAULTS["gap"]) -> None:
        super().__init__(ctx)
        catalog.check_args("objective", "temporal_order", segments=segments, head_hidden=head_hidden, cut=cut,
                           gap=gap)
        self.segments, self.per_segment, self.gap = segments, per_segment, gap
        if per_segment and cut == "words":
            raise ValueError("objective.per_segment encodes equal segments on their own; runs of whole words "
                             "(cut = 'words') are read whole: expected per_segment = false or cut = 'equal'")
        if cut == "words" and ctx.info.get("vocab_size") != BYTE_VOCAB:
            raise ValueError("objective.cut = 'words' cuts byte-level text at its spaces; expected text of bytes "
                             "(data.tokenizer = 'bytes'), or cut = 'equal'")
        self.sep = SPACE if cut == "words" else None
        self.register_buffer("permutations", permutation_table(segments), persistent=False)
        width = ctx.encoder.out_dim * (segments if per_segment else 1)
        self.head: nn.Module = token_head(width, math.factorial(segments), head_hidden)

    def forward(self, batch: Batch, augment: Augment, gen: torch.Generator) -> Loss:
        x, rest = split_batch(augment(batch, gen))
        lengths = valid_lengths(self.encoder.valid_tokens(x, **rest), x)   # [B] or None
        if self.gap > 0:
            if not x.is_floating_point():
                raise ValueError("temporal_order's gap silences samples or frames; token ids have no silence")
            x = with_gaps(x, self.segments, self.gap, lengths)
        x_perm, label = order_views(x, self.permutations, gen, lengths, self.sep)   # [B, L, ...], [B]
        if self.per_segment:
            if rest:
                raise ValueError("temporal_order with per_segment cuts x alone; expected a batch with nothing "
                                 "beside x")
            parts = (segment_batch(x_perm, self.segments) if lengths is None    # padded ids: over each row's length
                     else segment_rows(x_perm, self.segments, lengths))
            f = self.encoder(parts)                                          # [B·n, D]
            logits = self.head(f.view(x.shape[0], -1))                       # [B, n·D] → [B, n!]
        else:
            logits = self.head(self.encoder(x_perm, **rest))                 # [B, n!]
        loss = F.cross_entropy(logits, label)
        chance = loss.detach().new_full((), math.log(math.factorial(self.segments)))  # guessing among n! orders
        return loss, {"order_acc": (logits.detach().argmax(dim=1) == label).float().mean(), "chance_loss": chance}
