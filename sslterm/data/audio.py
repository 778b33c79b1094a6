"""Audio datasets: the generated ``sounds`` and the user's own WAV/FLAC folders or ``.npz`` arrays.

Every clip is float32 in about [-1, 1], all clips of a dataset share one length and sample rate
(``info = {"sample_rate", "length", "num_classes"}``). ``sounds`` synthesises labelled clips
from a seed with batched tensor ops (one vectorised function per class, no per-clip Python);
``audio_files`` reads a folder of PCM WAV or FLAC files (subfolder names are the labels) or an ``.npz``.
"""

from __future__ import annotations

import math
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sslterm.data import Dataset
from sslterm.data.npz import encode_labels, fail, read_npz
from sslterm.data.splits import split_labelled

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

_EXPECTED_WAV = "expected uncompressed PCM WAV (8, 16, 24 or 32-bit, any channels)"
_EXPECTED_NPZ = "an .npz with float x [N, L], optional labels y [N] and optional scalar sample_rate"


def read_wav(path: Path) -> tuple[Tensor, int]:
    """One PCM WAV file as mono float32 [L] in [-1, 1] (channels averaged), and its sample rate."""
    try:
        with wave.open(str(path), "rb") as f:
            width, channels, rate = f.getsampwidth(), f.getnchannels(), f.getframerate()
            raw = f.readframes(f.getnframes())
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{path}: not a readable PCM WAV file ({e}); {_EXPECTED_WAV}") from None
    if width == 1:
        a = np.frombuffer(raw, np.uint8).astype(np.float32) / 128 - 1
    elif width == 2:
        a = np.frombuffer(raw, "<i2").astype(np.float32) / 2**15
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        a = ((b[:, 0] | b[:, 1] << 8 | b[:, 2] << 16) << 8 >> 8).astype(np.float32) / 2**23
    elif width == 4:
        a = np.frombuffer(raw, "<i4").astype(np.float32) / 2**31
    else:
        raise ValueError(f"{path}: {8 * width}-bit samples; {_EXPECTED_WAV}")
    if a.size == 0 or rate <= 0 or channels <= 0:
        raise ValueError(f"{path}: holds no samples (rate {rate}, {channels} channels); {_EXPECTED_WAV}")
    mono = torch.from_numpy(a[: a.size - a.size % channels].copy()).view(-1, channels).mean(dim=1)
    return mono, rate


def resample(x: Tensor, rate: int, target: int) -> Tensor:
    """Clips [N, L] at ``rate`` → [N, round(L·target/rate)] at ``target``, by linear interpolation.

    No anti-aliasing filter: downsampling folds content above the new Nyquist frequency back.
    """
    if rate == target:
        return x
    size = max(1, round(x.shape[-1] * target / rate))
    return F.interpolate(x[:, None], size=size, mode="linear", align_corners=False)[:, 0]


def fit_length(x: Tensor, length: int) -> Tensor:
    """Clips [N, L] cut to their first ``length`` samples or zero-padded at the end to it."""
    return x[:, :length] if x.shape[1] >= length else F.pad(x, (0, length - x.shape[1]))


AUDIO_SUFFIXES = (".wav", ".flac")
"""Audio files read from folders: PCM WAV (standard library), FLAC (the optional ``soundfile`` package)."""


def _is_audio(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES


def read_flac(path: Path) -> tuple[Tensor, int]:
    """One FLAC file as mono float32 [L] (channels averaged) and its sample rate, read by ``soundfile``."""
    try:
        import soundfile
    except ImportError:
        raise ValueError(f"{path}: reading FLAC needs the soundfile package; expected it installed "
                         "(pip install 'sslterm[data]'), or WAV files") from None
    try:
        a, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError) as e:           # soundfile's LibsndfileError is a RuntimeError
        raise ValueError(f"{path}: not a readable FLAC file ({type(e).__name__}); expected FLAC audio") from None
    if a.size == 0 or rate <= 0:
        raise ValueError(f"{path}: holds no samples; expected FLAC audio")
    return torch.from_numpy(np.ascontiguousarray(a.mean(axis=1), dtype=np.float32)), int(rate)


def read_audio(path: Path) -> tuple[Tensor, int]:
    """One WAV or FLAC file as mono float32 [L] in about [-1, 1], and its sample rate."""
    return read_flac(path) if path.suffix.lower() == ".flac" else read_wav(path)


def _audio_files(root: Path) -> tuple[list[Path], list[int] | None, tuple[str, ...]]:
    """The WAV/FLAC files under ``root``: flat (unlabelled) or one subfolder per class, searched recursively
    (LibriSpeech's speaker/chapter/*.flac gives one class per speaker)."""
    loose = sorted(p for p in root.iterdir() if _is_audio(p))
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and any(_is_audio(f) for f in d.rglob("*")))
    if loose and classes:
        raise ValueError(f"{root}: mixes audio files with class subfolders; expected either a flat folder of "
                         ".wav/.flac files (unlabelled) or one subfolder of them per class (labelled)")
    if loose:
        return loose, None, ()
    if not classes:
        raise ValueError(f"{root}: no .wav or .flac files found; expected .wav/.flac files, or one subfolder of them "
                         "per class")
    files, labels = [], []
    for c, name in enumerate(classes):
        found = sorted(p for p in (root / name).rglob("*") if _is_audio(p))
        files += found
        labels += [c] * len(found)
    return files, labels, tuple(classes)


def _read_folder(root: Path, sr: int, length: int, cap: int, gen: torch.Generator
                 ) -> tuple[Tensor, Tensor | None, tuple[str, ...]]:
    files, labels, classes = _audio_files(root)
    keep = torch.randperm(len(files), generator=gen)[:cap].sort().values.tolist()   # a fixed subset
    clips = []
    for i in keep:                                         # file reading: one file at a time
        wav, rate = read_audio(files[i])
        clips.append(fit_length(resample(wav[None], rate, sr), length))
    y = None if labels is None else torch.tensor([labels[i] for i in keep])
    return torch.cat(clips), y, classes


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
    return fit_length(resample(torch.from_numpy(x.astype(np.float32)), rate, sr), length), y_np


def build_audio_files(options: dict[str, Any]) -> Dataset:
    """The user's clips from ``options['path']`` (WAV folder or .npz), with the shared held-out split."""
    path = Path(options["path"])
    sr = int(options["sample_rate"])
    length = max(1, round(float(options["clip_seconds"]) * sr))
    seed = int(options["seed"])
    gen = torch.Generator().manual_seed(seed)
    y: Tensor | None
    if path.is_dir():
        x, y, classes = _read_folder(path, sr, length, int(options["max_examples"]), gen)
    elif path.suffix.lower() == ".npz":
        x, raw_y = _read_npz(path, sr, length)
        keep = torch.randperm(x.shape[0], generator=gen)[: int(options["max_examples"])].sort().values
        x = x[keep]
        y, classes = (None, ()) if raw_y is None else encode_labels(raw_y[keep.numpy()], len(x), path, _EXPECTED_NPZ)
    else:
        raise ValueError(f"{path}: not a folder or an .npz file; expected a folder of .wav/.flac files or an .npz "
                         "with float x [N, L]")
    if x.shape[0] < 2:
        raise ValueError(f"{path}: holds {x.shape[0]} clip; expected at least 2 (one is held out for evaluation)")
    info = {"sample_rate": sr, "length": length, "num_classes": len(classes)}
    return split_labelled({"x": x}, y, classes, info, seed=seed)
