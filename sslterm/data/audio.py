"""Audio datasets: the generated ``sounds`` and the user's own WAV/FLAC folders or ``.npz`` arrays.

Every clip is float32 in about [-1, 1], all clips of a dataset share one length and sample rate
(``info = {"sample_rate", "length", "num_classes"}``). ``sounds`` synthesises labelled clips
from a seed with batched tensor ops (one vectorised function per class, no per-clip Python);
``audio_files`` reads a folder of PCM WAV or FLAC files (subfolder names are the labels), prepared once
into int16 clips (a sample is value / 32767, made float by :func:`sslterm.data.decode`), or an ``.npz``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sslterm.data import Dataset
from sslterm.data.npz import encode_labels, fail, read_npz
from sslterm.data.splits import split_labelled
from sslterm.decoding_audio import fit_length, resample
from sslterm.formats import AUTO, Format, detect

SOUND_CLASSES = (
    "tone", "harmonics", "chord", "chirp_up", "chirp_down", "tremolo", "vibrato", "noise_burst", "clicks",
)
_RAMP_S = 0.01        # attack and release of every envelope, seconds


def _ramp_envelope(t: Tensor, onset: Tensor, dur: Tensor) -> Tensor:
    """1 between onset and onset + dur with linear 10 ms ramps, 0 outside: [n, L]."""
    rise = ((t - onset) / _RAMP_S).clamp(0, 1)
    fall = ((onset + dur - t) / _RAMP_S).clamp(0, 1)
    return rise * fall


# Each class maps (time since onset τ [n, L] in s, pitch f0 [n, 1] in Hz, duration [n, 1] in s,
# u [n, 3] in [0, 1): the class's own random draws, sample rate, generator) to a waveform [n, L]
# of peak about 1. Every frequency stays within f0 .. 3.1·f0, below Nyquist.
SoundFn = Callable[[Tensor, Tensor, Tensor, Tensor, int, torch.Generator], Tensor]


def _tone(tau: Tensor, f0: Tensor, dur: Tensor, u: Tensor, sr: int, g: torch.Generator) -> Tensor:
    return torch.sin(2 * math.pi * f0 * tau)


def _harmonics(tau: Tensor, f0: Tensor, dur: Tensor, u: Tensor, sr: int, g: torch.Generator) -> Tensor:
    phase = 2 * math.pi * f0 * tau
    return (torch.sin(phase) + 0.6 * torch.sin(2 * phase) + 0.4 * torch.sin(3 * phase)) / 2


def _chord(tau: Tensor, f0: Tensor, dur: Tensor, u: Tensor, sr: int, g: torch.Generator) -> Tensor:
    minor = u[:, :1] < 0.5                                     # major or minor triad
    third = torch.where(minor, 2 ** (3 / 12), 2 ** (4 / 12))
    phase = 2 * math.pi * f0 * tau
    return (torch.sin(phase) + torch.sin(third * phase) + torch.sin(1.5 * phase)) / 3


def _chirp(up: bool) -> SoundFn:
    def chirp(tau: Tensor, f0: Tensor, dur: Tensor, u: Tensor, sr: int, g: torch.Generator) -> Tensor:
        octaves = 0.8 + 0.8 * u[:, :1]                          # sweep of 0.8 to 1.6 octaves
        rate = octaves * math.log(2) / dur * (1 if up else -1)  # exponential, over the whole sound
        start = f0 if up else f0 * 2 ** octaves
        return torch.sin(2 * math.pi * start * torch.expm1(rate * tau) / rate)
    return chirp


def _tremolo(tau: Tensor, f0: Tensor, dur: Tensor, u: Tensor, sr: int, g: torch.Generator) -> Tensor:
    fm, depth = 6 + 14 * u[:, :1], 0.7 + 0.3 * u[:, 1:2]      # 6-20 Hz amplitude modulation
    return torch.sin(2 * math.pi * f0 * tau) * (1 - depth * (0.5 + 0.5 * torch.cos(2 * math.pi * fm * tau)))


def _vibrato(tau: Tensor, f0: Tensor, dur: Tensor, u: Tensor, sr: int, g: torch.Generator) -> Tensor:
    fm, depth = 5 + 10 * u[:, :1], 0.04 + 0.06 * u[:, 1:2]    # f(τ) = f0 (1 + depth sin(2π fm τ))
    return torch.sin(2 * math.pi * f0 * (tau + depth / (2 * math.pi * fm) * (1 - torch.cos(2 * math.pi * fm * tau))))


def _noise_burst(tau: Tensor, f0: Tensor, dur: Tensor, u: Tensor, sr: int, g: torch.Generator) -> Tensor:
    """White noise band-passed in the frequency domain around a random centre (0.3 to 0.8 octave wide)."""
    n, length = tau.shape
    spec = torch.fft.rfft(torch.randn(n, length, generator=g), dim=1)
    freqs = torch.fft.rfftfreq(length, 1 / sr)[None]
    centre = f0 * 2 ** (1.5 * u[:, :1])
    width = centre * (0.2 + 0.4 * u[:, 1:2])
    band = torch.exp(-0.5 * ((freqs - centre) / width) ** 2)
    y = torch.fft.irfft(spec * band, n=length, dim=1)
    return y / y.abs().amax(dim=1, keepdim=True).clamp(min=1e-8)


def _clicks(tau: Tensor, f0: Tensor, dur: Tensor, u: Tensor, sr: int, g: torch.Generator) -> Tensor:
    """A train of decaying pings at 10 to 40 per second, the first once the onset ramp is complete."""
    rate = 10 + 30 * u[:, :1]
    since = torch.remainder(tau - _RAMP_S, 1 / rate)            # time since the last click
    return torch.exp(-since / 0.004) * torch.sin(2 * math.pi * 2 * f0 * since)


_SOUNDS: dict[str, SoundFn] = {
    "tone": _tone, "harmonics": _harmonics, "chord": _chord, "chirp_up": _chirp(True),
    "chirp_down": _chirp(False), "tremolo": _tremolo, "vibrato": _vibrato, "noise_burst": _noise_burst,
    "clicks": _clicks,
}


def render_sounds(n: int, sample_rate: int, length: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Synthesise ``n`` labelled clips: (float32 [n, length] in [-1, 1], int64 [n]), balanced classes.

    Each clip is one sound with a random pitch (log-uniform over sample_rate/50 .. sample_rate/6.5,
    so harmonics stay below Nyquist), onset, duration and loudness, over Gaussian background noise.
    """
    k = len(SOUND_CLASSES)
    labels = (torch.arange(n) % k)[torch.randperm(n, generator=gen)]
    u = torch.rand(n, 8, generator=gen)
    seconds = length / sample_rate
    t = torch.arange(length, dtype=torch.float32)[None] / sample_rate           # [1, L]
    f0 = (sample_rate / 50) * (50 / 6.5) ** u[:, :1]                            # [n, 1] Hz
    onset = u[:, 1:2] * 0.35 * seconds
    dur = (0.45 + 0.5 * u[:, 2:3]) * seconds
    loud = 0.25 + 0.6 * u[:, 3:4]
    x = torch.randn(n, length, generator=gen) * (0.002 + 0.03 * u[:, 4:5])      # background noise
    for c, name in enumerate(SOUND_CLASSES):                                    # one batched op per class
        idx = (labels == c).nonzero().squeeze(1)
        if idx.numel() == 0:
            continue
        tau = (t - onset[idx]).clamp(min=0)
        wave_ = _SOUNDS[name](tau, f0[idx], dur[idx], u[idx, 5:], sample_rate, gen)
        x[idx] += loud[idx] * _ramp_envelope(t, onset[idx], dur[idx]) * wave_
    return x.clamp_(-1, 1), labels


def build_sounds(options: dict[str, Any]) -> Dataset:
    """Generate the train and held-out splits of ``sounds`` from the dataset's catalog options."""
    gen = torch.Generator().manual_seed(int(options["seed"]))
    sr, length = int(options["sample_rate"]), int(options["length"])
    x_tr, y_tr = render_sounds(int(options["num_samples"]), sr, length, gen)
    x_ev, y_ev = render_sounds(int(options["num_eval"]), sr, length, gen)
    info = {"sample_rate": sr, "length": length, "num_classes": len(SOUND_CLASSES)}
    return Dataset({"x": x_tr}, {"x": x_ev}, y_tr, y_ev, SOUND_CLASSES, info)


# ---- the user's own audio -------------------------------------------------------------------

_EXPECTED_NPZ = "an .npz with float x [N, L], optional labels y [N] and optional scalar sample_rate"


def _read_npz(path: Path, sr: int, length: int) -> tuple[Tensor, np.ndarray | None]:
    """Clips float32 [N, length] at ``sr`` and the raw labels (or None) from an .npz."""
    arrays = read_npz(path, _EXPECTED_NPZ)
    x = arrays.get("x")
    if x is None or x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1 or x.dtype.kind != "f":
        got = "no x" if x is None else f"x {x.dtype} {list(x.shape)}"
        raise fail(path, got, _EXPECTED_NPZ)
    if not np.isfinite(x).all():
        raise fail(path, "x holds NaN or infinite values", _EXPECTED_NPZ)
    y_np, rate_np = arrays.get("y"), arrays.get("sample_rate")
    if y_np is not None and y_np.shape != (x.shape[0],):
        raise fail(path, f"y {y_np.dtype} {list(y_np.shape)} does not fit x {list(x.shape)}", _EXPECTED_NPZ)
    if rate_np is not None and (rate_np.size != 1 or rate_np.dtype.kind not in "iuf" or rate_np.item() <= 0):
        raise fail(path, f"sample_rate {rate_np!r} is not one positive number", _EXPECTED_NPZ)
    rate = sr if rate_np is None else int(rate_np.item())
    return torch.from_numpy(fit_length(resample(x.astype(np.float32), rate, sr), length).copy()), y_np


def build_audio_files(options: dict[str, Any]) -> Dataset:
    """The user's clips from ``options['path']``, with the shared held-out split: a WAV/FLAC folder (prepared
    once into int16 [N, L], :mod:`sslterm.data.prepare_media`) or an .npz (read whole, float32)."""
    path = Path(options["path"])
    sr = int(options["sample_rate"])
    length = max(1, round(float(options["clip_seconds"]) * sr))
    seed = int(options["seed"])
    gen = torch.Generator().manual_seed(seed)
    y: Tensor | None
    if detect(path, "audio", str(options.get("format", AUTO))) is Format.AUDIO_FOLDER:   # prepared once, mapped
        from sslterm.data.prepare_media import audio_folder

        return audio_folder(path, sr, length, seed, int(options["max_examples"]))
    x, raw_y = _read_npz(path, sr, length)
    keep = torch.randperm(x.shape[0], generator=gen)[: int(options["max_examples"])].sort().values
    x = x[keep]
    y, classes = (None, ()) if raw_y is None else encode_labels(raw_y[keep.numpy()], len(x), path, _EXPECTED_NPZ)
    if x.shape[0] < 2:
        raise ValueError(f"{path}: holds {x.shape[0]} clip; expected at least 2 (one is held out for evaluation)")
    info = {"sample_rate": sr, "length": length, "num_classes": len(classes)}
    return split_labelled({"x": x}, y, classes, info, seed=seed)
