"""Audio encoders: a 1-D CNN on raw waveforms and a transformer over log-mel frames computed inside it."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslterm import catalog
from sslterm.models.base import Encoder
from sslterm.models.transformer import TransformerStack

_WAVE_DEFAULTS = catalog.get("encoder", "wave_cnn").defaults()
"""WaveCNN's defaults: the catalog declares them, once."""


class WaveCNN(Encoder):
    """Strided 1-D convolutions on waveforms [B, L] → features [B, C] (mean over time).

    Each of ``layers`` layers is Conv1d(kernel 2s, stride s) → BatchNorm → GELU, so the last layer
    has T = L // s**layers positions, each the summary of one chunk of S = s**layers samples (its
    receptive field reaches into the neighbouring chunks). Those positions are the tokens; a
    token's target is its chunk of samples, and hiding a token zeroes that chunk. Samples past
    T·S (when S does not divide L) belong to no token.
    """

    def __init__(self, length: int, width: int = _WAVE_DEFAULTS["width"], layers: int = _WAVE_DEFAULTS["layers"],
                 stride: int = _WAVE_DEFAULTS["stride"]) -> None:
        super().__init__()
        if width < 1 or layers < 1 or stride < 2:
            raise ValueError(f"need width ≥ 1, layers ≥ 1 and stride ≥ 2; got {width}, {layers}, {stride}")
        self.chunk = stride**layers                                   # samples per token
        if length < self.chunk:
            raise ValueError(f"clips of {length} samples are shorter than one token of stride**layers = "
                             f"{self.chunk} samples; use fewer layers or a smaller stride")
        convs: list[nn.Module] = []
        c_in = 1
        for i in range(layers):
            c_out = width * 2 ** min(i, 2)
            convs += [nn.ConstantPad1d((stride // 2, stride - stride // 2), 0.0),   # L → L // stride
                      nn.Conv1d(c_in, c_out, 2 * stride, stride, bias=False), nn.BatchNorm1d(c_out), nn.GELU()]
            c_in = c_out
        self.body = nn.Sequential(*convs)
        self.out_dim = self.token_dim = c_in
        self.token_grid = (length // self.chunk,)

    def feature_map(self, x: Tensor) -> Tensor:
        """The last layer's output [B, C, T] (T = L // chunk)."""
        return self.body(x[:, None])

    def forward(self, x: Tensor, **_: Tensor) -> Tensor:
        return self.feature_map(x).mean(dim=2)                        # [B, C]

    def tokens(self, x: Tensor, causal: bool = False, **_: Tensor) -> Tensor:
        """Each position of the last layer as a token: [B, T, C] (convolutions look ahead: no causal mode)."""
        if causal:
            raise NotImplementedError("wave_cnn's convolutions see later samples; it has no causal mode")
        return self.feature_map(x).transpose(1, 2)

    def token_targets(self, x: Tensor, **_: Tensor) -> Tensor:
        """The samples under each token: [B, T, chunk]."""
        t = self.token_grid[0]
        return x[:, : t * self.chunk].reshape(x.shape[0], t, self.chunk)

    def hide(self, x: Tensor, mask: Tensor, /, **_: Tensor) -> Tensor:
        """Zero the chunk of samples of every token where mask [B, T] is True."""
        return _zero_chunks(x, mask, self.chunk)


def _zero_chunks(x: Tensor, chunks: Tensor, size: int) -> Tensor:
    """Zero the samples of every chunk (``size`` samples each, from the start) where chunks [B, T] is True."""
    hidden = chunks.repeat_interleave(size, dim=1)                    # [B, T·size]
    hidden = F.pad(hidden, (0, x.shape[1] - hidden.shape[1]))         # samples past T·size stay
    return x.masked_fill(hidden, 0.0)


def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int) -> Tensor:
    """Triangular filters on the HTK mel scale, equally spaced from 0 Hz to Nyquist: [n_fft//2 + 1, n_mels]."""
    def mel(f: Tensor) -> Tensor:
        return 2595 * torch.log10(1 + f / 700)

    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = 700 * (10 ** (torch.linspace(0, float(mel(torch.tensor(sample_rate / 2))), n_mels + 2) / 2595) - 1)
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]                  # [n_mels] each
    f = freqs[:, None]
    return ((f - lo) / (mid - lo)).minimum((hi - f) / (hi - mid)).clamp(min=0)


_MEL_DEFAULTS = catalog.get("encoder", "mel_transformer").defaults()
"""MelTransformer's defaults: the catalog declares them, once."""


class MelTransformer(Encoder):
    """Log-mel frames of the waveform → linear embedding + learned positions → transformer.

    Framing: frame t is the STFT window (Hann, ``n_fft`` samples) that *ends* at the end of hop
    chunk t, i.e. covers samples [(t+1)·hop - n_fft, (t+1)·hop) of the clip left-padded with
    zeros; so T = L // hop frames and a frame only overlaps *earlier* chunks. Neighbouring windows
    overlap by n_fft - hop samples (by design: smoother spectra), always towards the past, so with
    causal attention frame t depends on samples < (t+1)·hop only: nothing from a later frame's chunk.

    Hiding frame t zeroes its whole window span (chunks t - n_fft/hop + 1 .. t), so none of the
    samples its target is computed from stays visible; the price is that the visible frames just
    before it lose part of their window too. Token targets are the log-mel frames normalised per
    clip (zero mean, unit variance over all frames and bins).
    """

    window: Tensor      # buffers, declared for the type checker
    filters: Tensor

    def __init__(self, length: int, sample_rate: int, n_fft: int = _MEL_DEFAULTS["n_fft"],
                 hop: int = _MEL_DEFAULTS["hop"], n_mels: int = _MEL_DEFAULTS["n_mels"],
                 dim: int = _MEL_DEFAULTS["dim"], depth: int = _MEL_DEFAULTS["depth"],
                 heads: int = _MEL_DEFAULTS["heads"]) -> None:
        super().__init__()
        if n_fft % hop or hop < 1:
            raise ValueError(f"n_fft {n_fft} must be a multiple of hop {hop} (a frame spans whole hop chunks)")
        if length < hop:
            raise ValueError(f"clips of {length} samples are shorter than one hop of {hop} samples")
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.n_fft, self.hop, self.n_mels = n_fft, hop, n_mels
        frames = length // hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filters", mel_filterbank(n_fft, n_mels, sample_rate), persistent=False)
        self.embed = nn.Linear(n_mels, dim)
        self.pos = nn.Parameter(torch.randn(1, frames, dim) * 0.02)
        self.stack = TransformerStack(dim, depth, heads)
        self.out_dim = self.token_dim = dim
        self.token_grid = (frames,)

    def log_mel(self, x: Tensor) -> Tensor:
        """Log-mel frames [B, T, n_mels] of waveforms [B, L] (frame t ends at sample (t+1)·hop).

        T is the clip's frames, or fewer for a shorter waveform (a segment of one: temporal order's
        ``per_segment``), which then takes the first T learned positions in :meth:`tokens`.
        """
        t = min(self.token_grid[0], x.shape[1] // self.hop)
        if t < 1:
            raise ValueError(f"a waveform of {x.shape[1]} samples is shorter than one hop of {self.hop} samples")
        padded = F.pad(x[:, : t * self.hop], (self.n_fft - self.hop, 0))
        spec = torch.stft(padded, self.n_fft, self.hop, window=self.window, center=False, return_complex=True)
        power = spec.abs().pow(2) / self.n_fft                      # [B, F, T]
        return torch.log(power.transpose(1, 2) @ self.filters + 1e-5)  # [B, T, n_mels]

    def tokens(self, x: Tensor, causal: bool = False, **_: Tensor) -> Tensor:
        """Per-frame features [B, T, dim]; with ``causal`` frame t attends to frames ≤ t only."""
        m = self.log_mel(x)
        h = self.embed((m + 7) / 4) + self.pos[:, : m.shape[1]]     # log powers span about -11..2
        return self.stack(h, causal=causal)

    def forward(self, x: Tensor, **_: Tensor) -> Tensor:
        return self.tokens(x).mean(dim=1)                            # [B, dim]

    def token_targets(self, x: Tensor, **_: Tensor) -> Tensor:
        """Log-mel frames normalised per clip: [B, T, n_mels]."""
        m = self.log_mel(x)
        mean = m.mean(dim=(1, 2), keepdim=True)
        std = m.std(dim=(1, 2), keepdim=True)
        return (m - mean) / (std + 1e-5)

    def hide(self, x: Tensor, mask: Tensor, /, **_: Tensor) -> Tensor:
        """Zero every sample in the window of each frame where mask [B, T] is True."""
        span = self.n_fft // self.hop                                # chunks per window
        # chunk c is in the window of frames c .. c + span - 1: hidden if any of them is masked
        m = F.pad(mask.to(x.dtype)[:, None], (0, span - 1))
        chunks = F.max_pool1d(m, span, stride=1)[:, 0] > 0           # [B, T]
        return _zero_chunks(x, chunks, self.hop)


def build_wave_cnn(info: dict[str, Any], options: dict[str, Any]) -> WaveCNN:
    """A :class:`WaveCNN` for clips of ``info['length']`` samples, from its catalog options."""
    return WaveCNN(int(info["length"]), options["width"], options["layers"], options["stride"])


def build_mel_transformer(info: dict[str, Any], options: dict[str, Any]) -> MelTransformer:
    """A :class:`MelTransformer` for clips described by ``info``, from its catalog options."""
    if options["n_fft"] // 2 + 1 < options["n_mels"]:
        raise ValueError(f"n_mels {options['n_mels']} exceeds the {options['n_fft'] // 2 + 1} frequency bins "
                         f"of n_fft {options['n_fft']}; use fewer mels or a larger n_fft")
    return MelTransformer(int(info["length"]), int(info["sample_rate"]), options["n_fft"], options["hop"],
                          options["n_mels"], options["dim"], options["depth"], options["heads"])


__all__ = ["MelTransformer", "WaveCNN", "build_mel_transformer", "build_wave_cnn", "mel_filterbank"]
