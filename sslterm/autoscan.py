"""What the user's files say of their shape, read before the data is built, and the experiment settled from it.

:func:`scan` reads headers and sizes only where it can (an ``.npz``'s array shapes without loading
them, WAV headers, text lengths from the first megabytes, graph sizes), never the whole data;
:func:`settle` derives every setting still left to the data (:mod:`sslterm.config_auto`) and ends the
``[auto]`` table's pending keys. No torch.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import io
import itertools
import json
import os
import statistics
import tarfile
import wave
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from sslterm import config, config_auto
from sslterm.autoconf import PENDING, Facts
from sslterm.decoding import SUFFIXES as IMAGE_SUFFIXES
from sslterm.decoding_audio import AUDIO_SUFFIXES
from sslterm.formats import AUTO, Format, detect, expand

T = TypeVar("T")

TEXT_BYTES = 4 * 2**20
"""Text read to measure its lengths: the first 4 MiB of each format's files."""
BPE_SAMPLE_BYTES = 2**20
"""Text a BPE is trained on to measure its bytes per token (data.tokenizer = "bpe")."""


def npz_arrays(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each array of an ``.npz`` as (shape, dtype string), read from the member headers alone."""
    out: dict[str, tuple[tuple[int, ...], str]] = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if not name.endswith(".npy"):
                continue
            with z.open(name) as f:
                head = f.read(10)
                if head[:6] != b"\x93NUMPY":
                    continue
                size = int.from_bytes(head[8:10], "little") if head[6] == 1 else int.from_bytes(
                    head[8:10] + f.read(2), "little")
                meta = ast.literal_eval(f.read(size).decode("latin1"))
                out[name[:-4]] = (tuple(meta["shape"]), str(meta["descr"]))
    return out


def _npz_value(path: Path, name: str) -> Any:
    """A small array of an ``.npz`` loaded (numpy is imported here only)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        return z[name]


def _percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _audio_header(p: Path) -> tuple[int, int] | None:
    """(sample rate, frames) of a WAV file from its header, or of a FLAC file through soundfile when installed."""
    try:
        if p.suffix.lower() == ".wav":
            with wave.open(str(p), "rb") as w:
                return w.getframerate(), w.getnframes()
        import soundfile

        info = soundfile.info(str(p))
        return int(info.samplerate), int(info.frames)
    except ImportError:
        return None                    # the dataset's reader says that FLAC needs soundfile
    except (wave.Error, EOFError, OSError, RuntimeError):
        return None


def _audio(path: Path) -> Facts:
    if path.suffix.lower() == ".npz":
        arrays = npz_arrays(path)
        if "x" not in arrays or len(arrays["x"][0]) != 2:
            return Facts()
        rate = None
        if "sample_rate" in arrays and arrays["sample_rate"][0] in ((), (1,)):
            rate = int(float(_npz_value(path, "sample_rate").reshape(-1)[0]))
        return Facts(file_length=int(arrays["x"][0][1]), file_rate=rate if rate and rate > 0 else None)
    if not path.is_dir():
        return Facts()
    lengths: dict[int, list[int]] = {}
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)[:2000]
    for p in files:
        head = _audio_header(p)
        if head is not None:
            lengths.setdefault(head[0], []).append(head[1])
    if not lengths:
        return Facts()
    rate = max(lengths, key=lambda r: len(lengths[r]))
    return Facts(file_length=_percentile(lengths[rate], 0.9), file_rate=rate)


def _side(shape: tuple[int, ...], video: bool) -> Facts:
    if video and len(shape) in (4, 5):
        return Facts(file_side=min(shape[-2:]), frames=int(shape[1]))
    if not video and len(shape) in (3, 4):
        return Facts(file_side=min(shape[-2:]))
    return Facts()


IMAGE_SAMPLE = 64
"""Image files whose headers are read to measure a folder's image side (spread over the first files found)."""
LISTED = 4096
"""Files (or clip folders) listed at most to choose that sample, so a folder of millions is not walked."""


def _walk_images(root: Path) -> Iterator[tuple[Path, list[Path]]]:
    """(folder, its image files in name order) for each folder under ``root`` holding images, in name order."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        images = sorted(f for f in files if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith("."))
        if images:
            yield Path(folder), [Path(folder) / f for f in images]


def _spread(items: list[T], n: int) -> list[T]:
    """``n`` items evenly spaced over ``items`` (all when there are fewer)."""
    if len(items) <= n:
        return items
    return [items[i * len(items) // n] for i in range(n)]


def _median_side(images: list[Path] | list[bytes]) -> int | None:
    """The median shorter side of image files or encoded images (PNG, JPEG, WebP bytes), from their headers
    alone (Pillow reads no pixels); None if none opens."""
    from PIL import Image, UnidentifiedImageError

    sides = []
    for image in images:
        try:
            with Image.open(image if isinstance(image, Path) else io.BytesIO(image)) as im:
                sides.append(min(im.size))
        except (OSError, UnidentifiedImageError, ValueError):
            continue
    return int(statistics.median(sides)) if sides else None


def _image_folder(root: Path) -> Facts:
    listed: list[Path] = []
    for _, images in _walk_images(root):
        listed += images[: LISTED - len(listed)]
        if len(listed) >= LISTED:
            break
    return Facts(file_side=_median_side(_spread(listed, IMAGE_SAMPLE)))


def _frame_folders(root: Path) -> Facts:
    """Frame side and clip length of a folder of clip folders (a clip keeps as many frames as the shortest has)."""
    clips = list(itertools.islice(_walk_images(root), LISTED))
    if not clips:
        return Facts()
    side = _median_side([images[0] for _, images in _spread(clips, IMAGE_SAMPLE)])
    return Facts(file_side=side, frames=min(len(images) for _, images in clips))


def _table_images(path: str, fmt: Format, column: str) -> list[bytes]:
    """The first images of a Parquet or Hugging Face source's ``column`` (HF's image struct or plain bytes);
    none without pyarrow (the dataset's reader names what to install)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return []
    p = Path(path)
    if fmt is Format.PARQUET:
        files = sorted(p.glob("*.parquet")) if p.is_dir() else [Path(f) for f in expand(path)]
        batch = next(pq.ParquetFile(files[0]).iter_batches(batch_size=IMAGE_SAMPLE, columns=[column]), None)
    else:
        split = p / "train" if (p / "dataset_dict.json").is_file() else p
        arrow = next(f for f in sorted(split.iterdir()) if f.suffix == ".arrow")
        with pa.memory_map(str(arrow)) as src:
            batch = pa.ipc.open_stream(src).read_next_batch().slice(0, IMAGE_SAMPLE)
    if batch is None or column not in batch.schema.names:
        return []
    values = batch.column(column).to_pylist()
    return [v["bytes"] if isinstance(v, dict) else v for v in values if v is not None and (
        not isinstance(v, dict) or isinstance(v.get("bytes"), bytes))]


def _shard_images(path: str) -> list[bytes]:
    """The first images of WebDataset shards (uncompressed tar), read from the first shards only."""
    out: list[bytes] = []
    for shard in expand(path)[:4]:
        with tarfile.open(shard, "r:") as tar:
            for member in tar:
                if member.isfile() and member.name.lower().endswith(IMAGE_SUFFIXES):
                    f = tar.extractfile(member)
                    if f is not None:
                        out.append(f.read())
                if len(out) >= IMAGE_SAMPLE:
                    return out
    return out


def _images(path: Path, video: bool, options: dict[str, Any]) -> Facts:
    fmt = detect(path, "video" if video else "image", str(options.get("format", AUTO)))
    if fmt is Format.FRAME_FOLDERS:
        return _frame_folders(path)
    if fmt is Format.IMAGE_FOLDER:
        return _image_folder(path)
    if fmt in (Format.PARQUET, Format.HF_DATASET):
        return Facts(file_side=_median_side(_table_images(str(path), fmt, str(options.get("image_column", "image")))))
    if fmt is Format.WEBDATASET:
        return Facts(file_side=_median_side(_shard_images(str(path))))
    arrays = npz_arrays(path)
    return _side(arrays["x"][0], video) if "x" in arrays else Facts()


def _text_files(path: Path) -> list[Path]:
    """The .txt and .jsonl files of a text source: the file itself, or those under the folder, sorted."""
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".txt", ".jsonl"))


def _text_examples(files: list[Path], field: str) -> list[bytes]:
    """The examples of the first megabytes of text: lines of .txt files, the text of records of .jsonl files."""
    out: list[bytes] = []
    budget = TEXT_BYTES
    for p in files:
        if budget <= 0:
            break
        with open(p, "rb") as f:
            chunk = f.read(budget)
        budget -= len(chunk)
        for line in chunk.splitlines()[:-1] if len(chunk) == TEXT_BYTES else chunk.splitlines():
            if not line.strip():
                continue
            if p.suffix == ".jsonl":
                try:
                    text = json.loads(line).get(field, "")
                except (ValueError, AttributeError):
                    continue
                out.append(str(text).encode())
            else:
                out.append(line)
    return out


@functools.lru_cache(maxsize=8)
def _text_sizes(versions: tuple[tuple[str, int, int], ...], field: str, bpe_vocab: int
                ) -> tuple[int, float | None] | None:
    """(95th-percentile bytes per example, bytes per token) of the text files named in ``versions`` (path,
    mtime, size), read once per version of them: the launcher settles again at every edit. Bytes per token
    is 1 without a BPE (``bpe_vocab`` 0), else measured by a BPE of ``bpe_vocab`` trained on the first
    BPE_SAMPLE_BYTES of the examples (None without the tokenizers package: the run then says how to
    install it). None when there is no example."""
    examples = _text_examples([Path(f) for f, _, _ in versions], field)
    if not examples:
        return None
    doc_len = _percentile([len(e) for e in examples], 0.95)
    if not bpe_vocab:
        return doc_len, 1.0
    from sslterm import bpe_train

    sample, size = [], 0
    for e in examples:
        if size >= BPE_SAMPLE_BYTES:
            break
        sample.append(e.decode("utf-8", errors="replace"))
        size += len(e)
    try:
        return doc_len, bpe_train.bytes_per_token(sample, bpe_vocab)
    except ValueError:                                     # tokenizers is not installed
        return doc_len, None


def _text(path: Path, options: dict[str, Any]) -> Facts:
    if path.suffix.lower() == ".npz":
        import numpy as np

        x = _npz_value(path, "x")
        if x.ndim != 2 or x.shape[0] == 0:
            return Facts()
        lengths = (x != 0).sum(axis=1)
        return Facts(doc_len=int(np.percentile(lengths, 95)), bytes_per_token=1.0)
    bpe = options.get("tokenizer") == "bpe"
    stats = [(f, f.stat()) for f in _text_files(path)]
    versions = tuple((str(f), st.st_mtime_ns, st.st_size) for f, st in stats)
    sizes = _text_sizes(versions, str(options.get("text_field", "text")),
                        int(options.get("vocab_size", 8192)) if bpe else 0)
    return Facts() if sizes is None else Facts(doc_len=sizes[0], bytes_per_token=sizes[1])


def _graphs(path: Path) -> Facts:
    if path.suffix.lower() == ".npz" and path.is_file():
        arrays = npz_arrays(path)
        if "adj" not in arrays or len(arrays["adj"][0]) != 3:
            return Facts()
        if "mask" in arrays:
            counts = [int(c) for c in _npz_value(path, "mask").sum(axis=1)]
            return Facts(nodes=int(statistics.median(counts)), max_graph_nodes=max(counts))
        v = int(arrays["adj"][0][1])
        return Facts(nodes=v, max_graph_nodes=v)
    indicator = next(iter(sorted(path.glob("*_graph_indicator.txt"))), None) if path.is_dir() else None
    if indicator is not None:
        counts = list(Counter(indicator.read_text().split()).values())
    elif path.is_file():
        nodes: dict[str, set[str]] = {}
        for line in path.read_text(errors="replace").splitlines():
            parts = line.replace(",", " ").split()
            if len(parts) >= 3 and not parts[0].startswith("#"):
                nodes.setdefault(parts[0], set()).update(parts[1:3])
        counts = [len(s) for s in nodes.values()]
    else:
        return Facts()
    if not counts:
        return Facts()
    return Facts(nodes=int(statistics.median(counts)), max_graph_nodes=max(counts))


def scan(dataset: str, options: dict[str, Any]) -> Facts:
    """What the files of a ``*_files`` dataset say of their shape (empty Facts for anything it cannot read)."""
    path = Path(str(options.get("path", "")))
    if not options.get("path") or not (path.exists() or expand(str(path))):
        return Facts()
    try:
        if dataset == "audio_files":
            return _audio(path)
        if dataset in ("image_files", "video_files"):
            return _images(path, dataset == "video_files", options)
        if dataset == "text_files":
            return _text(path, options)
        if dataset == "graph_files":
            return _graphs(path)
    except (OSError, ValueError, KeyError, SyntaxError, StopIteration, IndexError, zipfile.BadZipFile,
            tarfile.TarError):
        return Facts()                 # the dataset's own reader names what is wrong with the file
    return Facts()


def pending(exp: config.Experiment) -> bool:
    """Whether some setting of ``exp`` is still left to its data."""
    return any(r == PENDING for r in exp.auto.values())


def settle(exp: config.Experiment, source: str = "<config>") -> config.Experiment:
    """``exp`` with every setting left to the data derived from its files (those no fact decides keep their
    value and leave ``[auto]``); ``exp`` itself when nothing is pending."""
    if not pending(exp):
        return exp
    settled = config.build(exp.to_dict(), source, facts=scan(exp.data.dataset, exp.data.options))
    return dataclasses.replace(settled, name=exp.name, auto=config_auto.finished(settled.auto))


def settle_run(exp: config.Experiment, config_path: Path, write: bool) -> config.Experiment:
    """:func:`settle` for a run; with ``write`` (the run's first process) its resolved configuration is
    written again with the derived values and their reasons, keeping its header comments."""
    if not pending(exp):
        return exp
    settled = settle(exp, str(config_path))
    if write:
        from sslterm.atomic import atomic_write_text

        lines = config_path.read_text().splitlines() if config_path.is_file() else []
        header = "\n".join(line[2:] if line.startswith("# ") else line[1:]
                           for line in lines[: next((i for i, x in enumerate(lines) if not x.startswith("#")),
                                                    len(lines))])
        atomic_write_text(config_path, settled.to_toml(header=header))
    for key, reason in settled.auto.items():
        print(f"{key} = {reason}", flush=True)
    return settled


__all__ = ["npz_arrays", "pending", "scan", "settle", "settle_run"]
