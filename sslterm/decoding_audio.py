"""Decoding WAV and FLAC files into mono clips of one rate and length, with numpy alone (no torch).

:mod:`sslterm.data.prepare` runs :func:`decode_audio` in its pool of decoding processes, which never
import torch (see :mod:`sslterm.decoding`); :mod:`sslterm.data.audio` uses the same readers and
:func:`resample` for ``.npz`` clips. WAV is read by the standard library; FLAC by the optional
``soundfile`` package, imported only when a FLAC file is read.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:                                   # numpy is imported where audio is decoded, not by the config
    import numpy as np

AUDIO_SUFFIXES = (".wav", ".flac")
"""Audio files read from folders: PCM WAV (standard library), FLAC (the optional ``soundfile`` package)."""
EXPECTED_WAV = "expected uncompressed PCM WAV (8, 16, 24 or 32-bit, any channels)"


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """One PCM WAV file as mono float32 [L] in [-1, 1] (channels averaged), and its sample rate."""
    import numpy as np

    try:
        with wave.open(str(path), "rb") as f:
            width, channels, rate = f.getsampwidth(), f.getnchannels(), f.getframerate()
            raw = f.readframes(f.getnframes())
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{path}: not a readable PCM WAV file ({e}); {EXPECTED_WAV}") from None
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
        raise ValueError(f"{path}: {8 * width}-bit samples; {EXPECTED_WAV}")
    if a.size < channels or rate <= 0 or channels <= 0:
        raise ValueError(f"{path}: holds no samples (rate {rate}, {channels} channels); {EXPECTED_WAV}")
    return a[: a.size - a.size % channels].reshape(-1, channels).mean(axis=1, dtype=np.float32), rate


def require_soundfile(path: Path) -> Any:
    """The ``soundfile`` module, or a ValueError naming ``path`` and what to install."""
    try:
        import soundfile
    except ImportError:
        raise ValueError(f"{path}: reading FLAC needs the soundfile package; expected it installed "
                         "(pip install 'sslterm[data]'), or WAV files") from None
    return soundfile


def read_flac(path: Path) -> tuple[np.ndarray, int]:
    """One FLAC file as mono float32 [L] (channels averaged) and its sample rate, read by ``soundfile``."""
    import numpy as np

    soundfile = require_soundfile(path)
    try:
        a, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError) as e:           # soundfile's LibsndfileError is a RuntimeError
        raise ValueError(f"{path}: not a readable FLAC file ({type(e).__name__}); expected FLAC audio") from None
    if a.size == 0 or rate <= 0:
        raise ValueError(f"{path}: holds no samples; expected FLAC audio")
    return np.ascontiguousarray(a.mean(axis=1), dtype=np.float32), int(rate)


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """One WAV or FLAC file as mono float32 [L] in about [-1, 1], and its sample rate."""
    return read_flac(path) if path.suffix.lower() == ".flac" else read_wav(path)


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Clips [..., L] at ``rate`` → [..., round(L·target/rate)] at ``target``, by linear interpolation.

    Sample i of the result is read at (i + 0.5)·rate/target − 0.5 of the source (half-pixel centres,
    clamped at the ends, as torch's ``interpolate(mode="linear")``). No anti-aliasing filter:
    downsampling folds content above the new Nyquist frequency back.
    """
    import numpy as np

    if rate == target:
        return x
    n = x.shape[-1]
    size = max(1, round(n * target / rate))
    pos = np.clip((np.arange(size) + 0.5) * (n / size) - 0.5, 0, n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    w = (pos - lo).astype(np.float32)
    return (x[..., lo] * (1 - w) + x[..., hi] * w).astype(np.float32)


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Clips [..., L] cut to their first ``length`` samples or zero-padded at the end to it."""
    import numpy as np

    if x.shape[-1] >= length:
        return x[..., :length]
    return np.concatenate([x, np.zeros((*x.shape[:-1], length - x.shape[-1]), dtype=x.dtype)], axis=-1)


def to_int16(x: np.ndarray) -> np.ndarray:
    """Samples in [-1, 1] as int16 (× 32767, rounded, clipped): how prepared audio is stored."""
    import numpy as np

    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def decode_audio(source: str, rate: int, length: int) -> np.ndarray:
    """One WAV/FLAC file → int16 [length]: mono, resampled to ``rate``, cut or zero-padded to ``length``.

    Raises ``ValueError`` for a file that cannot be read (one line naming it).
    """
    samples, source_rate = read_audio(Path(source))
    return to_int16(fit_length(resample(samples, source_rate, rate), length))
