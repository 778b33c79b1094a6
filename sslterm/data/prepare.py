"""Folders prepared once: decoded in parallel into memory-mapped arrays, resumable, with a manifest.

The one preparation engine; a :class:`Layout` says what one item becomes (images here; audio and
frame folders in :mod:`sslterm.data.prepare_media`). A folder of JPEG/PNG/WebP files (class
subfolders are labels, as in ImageNet's ``train/``; a flat folder is unlabelled) becomes an entry of
:mod:`sslterm.prepared` holding ``train.u8`` and ``eval.u8`` (uint8 [N, 3, size, size],
memory-mapped by training), their labels, and a manifest.
The held-out files are chosen before decoding, as ``splits.split_labelled`` chooses them (a
shuffle seeded by ``seed``; 10 %, at least one), so each split is one contiguous file and training
maps it without a copy. Decoding runs over every core; each file's state (0 to do, 1 done, 2
unreadable) is kept in ``state.u8``, so an interrupted preparation resumes where it stopped.
Unreadable files are skipped, counted and listed in the manifest; more than ``max_bad`` of them
stops the preparation with a line naming the first few.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, as_completed, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from sslterm.atomic import atomic_write_bytes, atomic_write_text
from sslterm.decoding import SUFFIXES, decode_chunk, decode_image_item, watch_parent
from sslterm.formats import AUTO, Format, detect
from sslterm.prepared import entry_dir, fingerprint, reuse_or_prepare, start_entry, write_manifest

EVAL_FRACTION = 0.1
MAX_BAD = 0.01
"""Largest share of unreadable files a preparation skips; beyond it, it stops."""
CHUNK = 64
"""Images a worker decodes per task (a task's results are recorded together)."""
TODO, DONE, BAD = 0, 1, 2
SUFFIXES_OF = {"uint8": ".u8", "int16": ".i16"}
"""The suffix of a split's file by the dtype of its rows."""
Progress = Callable[[int, int, float], None]
"""Called with (files handled, files in all, seconds since start) as a preparation goes; a resumed
preparation first calls it with the files already handled and 0 seconds."""


@dataclass(frozen=True)
class Source:
    """What a preparation decodes, in source order: one decodable name per image (a file, or a tar member as
    :func:`sslterm.decoding.tar_member` names it), a name to show, a label (-1: none), the class names, and
    the files whose relative names, sizes and times fingerprint the source."""

    where: Path
    items: list[str]
    names: list[str]
    labels: list[int]
    classes: tuple[str, ...]
    files: list[Path]
    files_root: Path
    read: Callable[[], Iterator[bytes]] | None = None
    """A streamed source (Parquet, Hugging Face): every item's encoded bytes in source order, read once front
    to back as decoding goes (``items`` then only counts them); None: ``items`` name what to decode."""
    held_out: int = 0
    """The last ``held_out`` items are the held-out split as the source divides them (its own test split);
    0: a seeded share is held out (:func:`split_order`)."""


@dataclass(frozen=True)
class Layout:
    """What a preparation makes of each item: one row of ``shape`` and ``dtype``, in ``<split><suffix>`` files."""

    kind: str
    """The entry's kind (its directory's prefix): images, audio, clips."""
    shape: tuple[int, ...]
    dtype: str
    """A numpy dtype name, one of ``SUFFIXES_OF``: uint8 (pixels), int16 (samples)."""
    decode: Callable[[str], Any]
    """An item to its row; picklable (a partial of a function of :mod:`sslterm.decoding` or
    :mod:`sslterm.decoding_audio`, which import no torch), as it runs in the decoding processes."""
    noun: str
    """What the items are called in messages: images, audio files, clips."""
    expected: str
    """What a readable item is, for the message that stops a preparation with too many unreadable ones."""

    @property
    def row_bytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    @property
    def suffix(self) -> str:
        return SUFFIXES_OF[self.dtype]


def image_layout(size: int) -> Layout:
    """Images as uint8 [3, size, size]: RGB, centre-cropped to a square, resized bilinearly."""
    return Layout("images", (3, size, size), "uint8", partial(decode_image_item, size=size), "images",
                  "JPEG, PNG or WebP files")


def image_files(root: Path, limit: int = 0) -> Source:
    """The image files under ``root``, labelled by class subfolder (or not); at most ``limit``."""
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder; expected a folder of JPEG/PNG/WebP images or class subfolders of them")
    classes = tuple(sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")))
    if classes:
        pairs = [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).rglob("*"))
                 if f.suffix.lower() in SUFFIXES and f.is_file()]
    else:
        pairs = [(f, -1) for f in sorted(root.iterdir()) if f.suffix.lower() in SUFFIXES and f.is_file()]
    if limit:
        pairs = pairs[:limit]
    if len(pairs) < 2:
        raise ValueError(f"{root}: {len(pairs)} JPEG/PNG/WebP image(s) found; expected at least 2 image files, "
                         "or class subfolders of them")
    files = [f for f, _ in pairs]
    return Source(root, [str(f) for f in files], [str(f.relative_to(root)) for f in files],
                  [label for _, label in pairs], classes, files, root)


def split_order(n: int, seed: int) -> tuple[np.ndarray, int]:
    """Source positions in stored order (held-out first) and how many are held out: split_labelled's choice."""
    import torch

    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return order, max(1, round(n * EVAL_FRACTION))


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def check_space(where: Path, needed: int) -> None:
    """Refuse, in one line with both sizes, to start a preparation the disk has no room for."""
    free = shutil.disk_usage(where).free
    if needed > free:
        raise ValueError(f"{where}: preparing needs {_fmt_bytes(needed)} but the disk has {_fmt_bytes(free)} free; "
                         "expected enough space (free some, set $SSLTERM_DATA_CACHE elsewhere, or prepare smaller "
                         "examples: a lower image_size or clip_seconds)")


def _allocate(path: Path, size: int) -> None:
    """A file of ``size`` bytes (sparse where the filesystem allows), unless it already has that size."""
    if path.is_file() and path.stat().st_size == size:
        return
    with path.open("wb") as f:
        f.truncate(size)


def _resumable(entry: Path, plan: dict[str, Any], sizes: dict[str, int]) -> bool:
    try:
        same = json.loads((entry / "plan.json").read_text()) == plan
    except (OSError, ValueError):
        return False
    return same and all((entry / k).is_file() and (entry / k).stat().st_size == v for k, v in sizes.items())


def _compact(path: Path, state: np.ndarray, row_bytes: int) -> np.ndarray:
    """Move the last good rows into the rows of unreadable files, shorten the file to the good rows.

    Returns, for each row of the shortened file, the row it was decoded into. Only copies happen
    before the final truncation, so an interrupted compaction repeated gives the same result.
    """
    good = state == DONE
    keep = int(good.sum())
    origin = np.arange(keep, dtype=np.int64)
    holes = np.flatnonzero(~good[:keep])                   # unreadable rows among the first ``keep``
    movers = np.flatnonzero(good[keep:]) + keep            # as many good rows after them
    if len(holes):
        m = np.memmap(path, dtype=np.uint8, mode="r+")
        for hole, src in zip(holes.tolist(), movers.tolist(), strict=True):
            m[hole * row_bytes:(hole + 1) * row_bytes] = m[src * row_bytes:(src + 1) * row_bytes]
        m.flush()
        del m
        origin[holes] = movers
    with path.open("r+b") as f:
        f.truncate(keep * row_bytes)
    return origin


def prepare_images(root: Path, size: int, seed: int = 0, limit: int = 0, *, workers: int = 0,
                   max_bad: float = MAX_BAD, progress: Progress | None = None, cache: Path | None = None,
                   data_format: str = AUTO, image_column: str = "image", label_column: str = "label"
                   ) -> tuple[Path, dict[str, Any]]:
    """The prepared entry of the images at ``root`` (a folder, WebDataset shards, Parquet, a Hugging Face
    folder: :func:`sslterm.formats.detect`, or ``data_format``) at ``size``.

    Made, or resumed, now unless a current one exists.
    """
    fmt = detect(root, "image", data_format)
    options: dict[str, Any] = {"image_size": size, "seed": seed, "max_examples": limit,
                               "resize": "centre-crop, bilinear"}
    if fmt is Format.IMAGE_FOLDER:
        source = image_files(root, limit)
    elif fmt is Format.WEBDATASET:
        from sslterm.data.webdataset import shard_source

        source = shard_source(str(root), limit)
    elif fmt in (Format.PARQUET, Format.HF_DATASET):
        from sslterm.data.arrow import image_source

        source = image_source(str(root), fmt, image_column, label_column, limit)
        options.update(image_column=image_column, label_column=label_column)
    else:
        raise ValueError(f"{root}: {fmt.value} is not prepared; expected an image folder, WebDataset shards, "
                         "Parquet files or a Hugging Face dataset folder")
    return prepare_source(source, image_layout(size), options, workers=workers, max_bad=max_bad, progress=progress,
                          cache=cache)


def prepare_source(source: Source, layout: Layout, options: dict[str, Any], *, workers: int = 0,
                   max_bad: float = MAX_BAD, progress: Progress | None = None,
                   cache: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The prepared entry of ``source`` as ``layout`` with ``options`` (which key it, ``seed`` among them).

    Reused when it was prepared from these very files; else made, or resumed, now.
    """
    entry = entry_dir(layout.kind, source.where, options, cache)
    prints = fingerprint(source.files, source.files_root)
    return reuse_or_prepare(entry, prints, lambda _stale: _prepare(source, layout, entry, options, prints, workers,
                                                                   max_bad, progress))


def _prepare(source: Source, layout: Layout, entry: Path, options: dict[str, Any], prints: dict[str, Any],
             workers: int, max_bad: float, progress: Progress | None) -> tuple[Path, dict[str, Any]]:
    """Decode (or finish decoding) ``source`` into ``entry``, holding its lock; the manifest written last."""
    seed, root, ext = int(options["seed"]), source.where, layout.suffix
    n = len(source.items)
    order, n_eval = split_order(n, seed) if not source.held_out else source_order(n, source.held_out)
    row_bytes = layout.row_bytes
    sizes = {f"eval{ext}": n_eval * row_bytes, f"train{ext}": (n - n_eval) * row_bytes, "state.u8": n}
    plan = {"source": str(root.resolve()), "options": options, "fingerprint": prints}
    if not _resumable(entry, plan, sizes):
        start_entry(entry)
        check_space(entry, sum(sizes.values()))
        for name in sizes:
            (entry / name).unlink(missing_ok=True)
        atomic_write_text(entry / "plan.json", json.dumps(plan) + "\n")
    for name, nbytes in sizes.items():
        _allocate(entry / name, nbytes)
    state = np.memmap(entry / "state.u8", dtype=np.uint8, mode="r+")
    targets = [(str(entry / (f"eval{ext}" if j < n_eval else f"train{ext}")), j if j < n_eval else j - n_eval)
               for j in range(n)]
    todo = [j for j in range(n) if state[j] == TODO]
    names = [source.names[order[j]] for j in range(n)]
    _decode(_jobs(source, order, todo, targets), len(todo), layout, state, workers, max_bad, progress, root, names)
    bad = [names[j] for j in range(n) if state[j] == BAD]
    if len(bad) > max_bad * n:                      # also when resuming a preparation that stopped for this
        raise ValueError(f"{root}: {len(bad)} of {n} {layout.noun} cannot be read (more than {max_bad:.0%}), e.g. "
                         f"{', '.join(bad[:3])}; expected {layout.expected} (fix or remove them)")
    kept = {}
    for name, lo, hi in (("eval", 0, n_eval), ("train", n_eval, n)):
        rows = _compact(entry / f"{name}{ext}", np.asarray(state[lo:hi]), row_bytes)
        kept[name] = order[lo:hi][rows]
    del state
    y = {k: np.array([source.labels[i] for i in v], dtype=np.int64) for k, v in kept.items()}
    for k in ("eval", "train"):
        atomic_write_bytes(entry / f"{k}_labels.i64", y[k].tobytes())
    manifest = {"kind": layout.kind, "source": str(root.resolve()), "options": options, "fingerprint": prints,
                "classes": list(source.classes), "shape": list(layout.shape), "dtype": layout.dtype,
                "counts": {"train": len(y["train"]), "eval": len(y["eval"]), "bad": len(bad), "files": n},
                "bad_files": bad}
    return entry, write_manifest(entry, manifest)


def source_order(n: int, held_out: int) -> tuple[np.ndarray, int]:
    """Source positions in stored order when the source's last ``held_out`` items are its held-out split."""
    return np.concatenate([np.arange(n - held_out, n), np.arange(n - held_out)]), held_out


Job = tuple[int, Any, str, int]
"""One item to decode: (stored position, file name or encoded bytes, target array file, row)."""


def _jobs(source: Source, order: np.ndarray, todo: list[int], targets: list[tuple[str, int]]
          ) -> Iterator[list[Job]]:
    """The decoding tasks of the stored positions ``todo``, CHUNK items each: named items in stored order; a
    streamed source's items in source order, as its ``read`` gives them (read once, front to back)."""
    if source.read is None:
        for i in range(0, len(todo), CHUNK):
            yield [(j, source.items[order[j]], *targets[j]) for j in todo[i:i + CHUNK]]
        return
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    waiting = np.zeros(len(order), dtype=bool)
    waiting[todo] = True
    chunk: list[Job] = []
    for i, data in enumerate(source.read()):
        if i < len(order) and waiting[position[i]]:
            chunk.append((int(position[i]), data, *targets[position[i]]))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _decode(jobs: Iterator[list[Job]], count: int, layout: Layout, state: np.memmap, workers: int, max_bad: float,
            progress: Progress | None, root: Path, names: list[str]) -> None:
    """Decode the ``count`` items of ``jobs`` over ``workers`` processes (0: every core), each recorded in ``state``."""
    n = len(names)
    start, handled = time.monotonic(), n - count
    bad = int((np.asarray(state) == BAD).sum())
    if not count:
        return
    if progress is not None and handled:
        progress(handled, n, 0.0)                    # resumed: where it starts (the rate counts from here)
    procs = min(workers or os.cpu_count() or 1, -(-count // CHUNK))
    if procs == 1:                                   # one process: no pool to start
        done = (decode_chunk(chunk, layout.decode) for chunk in jobs)
        _record(done, state, max_bad, progress, root, names, start, handled, bad, layout)
        return
    with ProcessPoolExecutor(max_workers=procs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=watch_parent) as pool:
        results = _submitted(pool, jobs, layout.decode, 2 * procs)
        try:
            _record(results, state, max_bad, progress, root, names, start, handled, bad, layout)
        finally:
            results.close()                          # cancels the chunks still queued


def _submitted(pool: ProcessPoolExecutor, jobs: Iterator[list[Job]], decode: Callable[[Any], Any], window: int
               ) -> Generator[list[tuple[int, str]], None, None]:
    """Each chunk's results as it completes, at most ``window`` chunks submitted at a time (so a streamed source's
    bytes wait in memory that long only); closing it cancels the chunks not yet started."""
    pending: set[Future[list[tuple[int, str]]]] = set()
    try:
        for chunk in jobs:
            pending.add(pool.submit(decode_chunk, chunk, decode))
            if len(pending) >= window:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
        while pending:
            f = next(as_completed(pending))
            pending.discard(f)
            yield f.result()
    finally:
        for f in pending:
            f.cancel()


def _record(done: Iterator[list[tuple[int, str]]], state: np.memmap, max_bad: float, progress: Progress | None,
            root: Path, names: list[str], start: float, handled: int, bad: int, layout: Layout) -> None:
    """Mark each decoded chunk's files done or unreadable (flushed per chunk); stop at too many unreadable."""
    n = len(names)
    for results in done:
        for j, error in results:
            state[j] = BAD if error else DONE
            bad += bool(error)
            if error and bad > max_bad * n:
                shown = [names[k] for k in range(n) if state[k] == BAD][:3]
                raise ValueError(f"{root}: {bad} of {n} {layout.noun} cannot be read (more than "
                                 f"{max_bad:.0%}), e.g. {', '.join(shown)} ({error}); expected "
                                 f"{layout.expected} (fix or remove them)")
        state.flush()
        handled += len(results)
        if progress is not None:
            progress(handled, n, time.monotonic() - start)


def print_progress(label: str, noun: str = "images") -> Progress:
    """A progress callback writing ``label: done/total noun, rate, ETA`` to stderr (a terminal: twice a second
    on one line; a log: a line every 10 s)."""
    last, base = [0.0], [0]
    every = 0.5 if sys.stderr.isatty() else 10.0

    def show(done: int, total: int, seconds: float) -> None:
        if seconds == 0:                                       # a resumed preparation starts at ``done``
            base[0] = done
            print(f"{label}: resuming at {done:,}/{total:,} {noun}", file=sys.stderr, flush=True)
            return
        if seconds - last[0] < every and done < total:
            return
        last[0] = seconds
        rate = (done - base[0]) / seconds
        eta = (total - done) / rate if rate > 0 else math.inf
        eta_text = "?" if math.isinf(eta) else f"{int(eta // 60)}m{int(eta % 60):02d}s"
        end = "\n" if done >= total or not sys.stderr.isatty() else ""
        print(f"\r{label}: {done:,}/{total:,} {noun}, {rate:,.0f}/s, ETA {eta_text}", end=end, file=sys.stderr,
              flush=True)

    return show



def say_skipped(root: Path, entry: Path, manifest: dict[str, Any], noun: str) -> dict[str, Any]:
    """``manifest``, after saying on stderr how many unreadable ``noun`` its preparation skipped (if any)."""
    if manifest["counts"]["bad"]:
        print(f"{root}: skipped {manifest['counts']['bad']} unreadable {noun}, listed in {entry}/manifest.json",
              file=sys.stderr, flush=True)
    return manifest


def map_splits(entry: Path, manifest: dict[str, Any], noun: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The train and eval rows of a prepared entry, memory-mapped as tensors [N, *shape] (no copy), and their
    int64 labels (None when unlabelled); a split left empty by unreadable ``noun`` is one line."""
    import torch

    shape, classes = [int(d) for d in manifest["shape"]], manifest["classes"]
    stored = manifest.get("dtype", "uint8")          # entries made before audio and clips were prepared: pixels
    dtype, ext = getattr(torch, stored), SUFFIXES_OF[stored]
    splits, labels = {}, {}
    for name in ("train", "eval"):
        n = int(manifest["counts"][name])
        if n == 0:
            raise ValueError(f"{manifest['source']}: no readable {noun} left in the {name} split; expected at "
                             f"least one readable {noun} in each")
        splits[name] = torch.from_file(str(entry / f"{name}{ext}"), shared=False, size=n * math.prod(shape),
                                       dtype=dtype).view(n, *shape)
        raw = np.fromfile(entry / f"{name}_labels.i64", dtype=np.int64)
        labels[name] = torch.from_numpy(raw) if classes else None
    return splits, labels
