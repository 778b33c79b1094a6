"""Audio folders and frame folders prepared once by the preparation engine, and mapped back as datasets.

Audio: WAV/FLAC files, flat (unlabelled) or one subfolder per class searched recursively
(LibriSpeech's ``speaker/chapter/*.flac`` gives one class per speaker), each decoded to mono,
resampled to ``sample_rate`` and cut or zero-padded to ``length`` samples, stored as int16 [N, L]
(``train.i16``, ``eval.i16``; a sample is value / 32767). Video: a folder of clip folders of frame
images (``ROOT/CLIP/*.jpg``) or class folders of them (``ROOT/CLASS/CLIP/*.jpg``), each clip's first
T frames (T the fewest any clip has) stored as uint8 [N, T, 3, S, S]. Both go through
:func:`sslterm.data.prepare.prepare_source`: every core, a fingerprint, reuse, resume, bad files
skipped and listed, a disk space check.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import torch

from sslterm.data import Dataset
from sslterm.data.npz import fail
from sslterm.data.prepare import (
    MAX_BAD,
    Layout,
    Progress,
    Source,
    map_splits,
    prepare_source,
    print_progress,
    say_skipped,
)
from sslterm.decoding import clip_frames, decode_clip
from sslterm.decoding_audio import AUDIO_SUFFIXES, decode_audio, require_soundfile

CLIPS_EXPECTED = ("a folder of clip folders of frame images (JPEG/PNG/WebP, in name order), or class folders of "
                  "clip folders, or an .npz file")


def _is_audio(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES


def audio_source(root: Path, limit: int = 0, seed: int = 0) -> tuple[Source, int]:
    """The WAV/FLAC files under ``root`` with their labels, at most ``limit`` (a fixed random subset by ``seed``),
    and the limit that took effect (0 when every file is kept, so that ``sslterm data prepare`` without a
    limit and a run with ``max_examples`` above the file count share one entry)."""
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder; expected a folder of .wav/.flac files, or one subfolder of them "
                         "per class")
    loose = sorted(p for p in root.iterdir() if _is_audio(p))
    classes = tuple(sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
                           and any(_is_audio(f) for f in d.rglob("*"))))
    if loose and classes:
        raise ValueError(f"{root}: mixes audio files with class subfolders; expected either a flat folder of "
                         ".wav/.flac files (unlabelled) or one subfolder of them per class (labelled)")
    pairs = [(f, -1) for f in loose] or [(f, c) for c, name in enumerate(classes)
                                         for f in sorted(p for p in (root / name).rglob("*") if _is_audio(p))]
    if 0 < limit < len(pairs):
        keep = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))[:limit].sort().values
        pairs = [pairs[i] for i in keep.tolist()]
    else:
        limit = 0                                    # every file: the same entry whatever limit above their count
    if len(pairs) < 2:
        raise ValueError(f"{root}: {len(pairs)} .wav/.flac file(s) found; expected at least 2 (one is held out), "
                         "flat or one subfolder of them per class")
    files = [f for f, _ in pairs]
    return Source(root, [str(f) for f in files], [str(f.relative_to(root)) for f in files],
                  [c for _, c in pairs], classes if not loose else (), files, root), limit


def prepare_audio(root: Path, sample_rate: int, length: int, seed: int = 0, limit: int = 0, *, workers: int = 0,
                  max_bad: float = MAX_BAD, progress: Progress | None = None,
                  cache: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The prepared entry of the audio folder ``root``: int16 clips of ``length`` samples at ``sample_rate``."""
    source, limit = audio_source(root, limit, seed)
    flac = next((f for f in source.files if f.suffix.lower() == ".flac"), None)
    if flac is not None:                             # a missing package is said now, not counted as bad files
        require_soundfile(flac)
    options = {"sample_rate": sample_rate, "length": length, "seed": seed, "max_examples": limit,
               "mono": "mean of channels", "resample": "linear"}
    layout = Layout("audio", (length,), "int16", partial(decode_audio, rate=sample_rate, length=length),
                    "audio files", "PCM WAV or FLAC files")
    return prepare_source(source, layout, options, workers=workers, max_bad=max_bad, progress=progress, cache=cache)


def clip_folders(root: Path) -> tuple[list[Path], list[int] | None, tuple[str, ...]]:
    """The clip folders under ``root``, their class indices (None when unlabelled) and the class names."""
    def subfolders(d: Path) -> list[Path]:
        return sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))

    subs = subfolders(root) if root.is_dir() else []
    if subs and all(clip_frames(d) for d in subs):
        return subs, None, ()
    if subs and not any(clip_frames(d) for d in subs):
        classes = tuple(d.name for d in subs)
        pairs = [(clip, i) for i, d in enumerate(subs) for clip in subfolders(d) if clip_frames(clip)]
        if pairs:
            return [c for c, _ in pairs], [i for _, i in pairs], classes
    raise fail(root, "no clip folders of frames found (or clip and class folders mixed)", CLIPS_EXPECTED)


def clip_source(root: Path, limit: int = 0) -> tuple[Source, int]:
    """The clip folders under ``root`` (at most the first ``limit``) and T, the fewest frames any of them has."""
    clips, labels, classes = clip_folders(root)
    if limit:
        clips = clips[:limit]
    if len(clips) < 2:
        raise fail(root, f"{len(clips)} clip folder(s)", f"at least 2 (one is held out); {CLIPS_EXPECTED}")
    frames = [clip_frames(c) for c in clips]
    return Source(root, [str(c) for c in clips], [str(c.relative_to(root)) for c in clips],
                  [-1] * len(clips) if labels is None else labels[:len(clips)], classes,
                  [f for clip in frames for f in clip], root), min(len(f) for f in frames)


def prepare_clips(root: Path, size: int, seed: int = 0, limit: int = 0, *, workers: int = 0,
                  max_bad: float = MAX_BAD, progress: Progress | None = None,
                  cache: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The prepared entry of the frame folders under ``root``: uint8 clips [T, 3, size, size]."""
    source, frames = clip_source(root, limit)
    options = {"image_size": size, "frames": frames, "seed": seed, "max_examples": limit,
               "resize": "centre-crop, bilinear"}
    layout = Layout("clips", (frames, 3, size, size), "uint8", partial(decode_clip, size=size, frames=frames),
                    "clips", "clip folders of JPEG, PNG or WebP frames")
    return prepare_source(source, layout, options, workers=workers, max_bad=max_bad, progress=progress, cache=cache)


def audio_folder(root: Path, sample_rate: int, length: int, seed: int, limit: int) -> Dataset:
    """An audio folder, prepared once into the data cache over every core, memory-mapped (int16 [N, L])."""
    entry, manifest = prepare_audio(root, sample_rate, length, seed, limit,
                                    progress=print_progress(f"preparing {root}", "audio files"))
    x, y = map_splits(entry, say_skipped(root, entry, manifest, "audio file(s)"), "audio file")
    classes = tuple(manifest["classes"])
    info = {"sample_rate": sample_rate, "length": length, "num_classes": len(classes)}
    return Dataset({"x": x["train"]}, {"x": x["eval"]}, y["train"], y["eval"], classes, info)


def clip_folder(root: Path, size: int, seed: int, limit: int) -> Dataset:
    """Frame folders, prepared once into the data cache over every core, memory-mapped (uint8 [N, T, 3, S, S])."""
    entry, manifest = prepare_clips(root, size, seed, limit, progress=print_progress(f"preparing {root}", "clips"))
    x, y = map_splits(entry, say_skipped(root, entry, manifest, "clip(s)"), "clip")
    classes = tuple(manifest["classes"])
    info = {"frames": int(manifest["shape"][0]), "channels": 3, "image_size": size, "num_classes": len(classes)}
    return Dataset({"x": x["train"]}, {"x": x["eval"]}, y["train"], y["eval"], classes, info)
