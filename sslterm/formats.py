"""The one place that decides what a ``data.path`` is: its data format, detected or named by ``data.format``.

Every ``*_files`` loader, the config check and ``sslterm catalog`` ask :func:`detect`. Detection looks
at the path alone (its suffix, a pattern's matches, a folder's marker files), never inside files, so it
is cheap enough for the config check and imports nothing heavier than the standard library. A path
that is none of the formats its modality reads is refused with one line naming what was found and what
is allowed (:class:`FormatError`, which the config check turns into a ConfigError on ``data.path``).
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from sslterm.decoding import expand_shards

AUTO = "auto"
"""``data.format``'s default: detect the format from the path."""
GLOB_CHARS = "*?["


class Format(str, Enum):
    """A data format sslterm reads; the value is what ``data.format`` names it."""

    IMAGE_FOLDER = "image_folder"
    WEBDATASET = "webdataset"
    PARQUET = "parquet"
    HF_DATASET = "hf_dataset"
    NPZ = "npz"
    TEXT_FILES = "text_files"
    JSONL = "jsonl"
    AUDIO_FOLDER = "audio_folder"
    FRAME_FOLDERS = "frame_folders"
    TU_FOLDER = "tu_folder"
    EDGE_LIST = "edge_list"


@dataclass(frozen=True)
class FormatInfo:
    """What a format is, how a path is recognised as it, and the library its reader needs (from the ``data`` extra)."""

    format: Format
    what: str
    detected: str
    extra: str = ""


FORMATS: dict[Format, FormatInfo] = {f.format: f for f in (
    FormatInfo(Format.IMAGE_FOLDER, "a folder of JPEG/PNG/WebP images (class subfolders are labels)",
               "any other folder"),
    FormatInfo(Format.WEBDATASET, "uncompressed WebDataset .tar shards", "a .tar file or a {000..009} pattern of them"),
    FormatInfo(Format.PARQUET, "Parquet files", "a .parquet file, a folder holding .parquet files, or a glob "
               "(data/*.parquet)", "pyarrow"),
    FormatInfo(Format.HF_DATASET, "a Hugging Face dataset saved by save_to_disk", "a folder with dataset_dict.json, "
               "or with state.json and dataset_info.json", "pyarrow"),
    FormatInfo(Format.NPZ, "an .npz of arrays", "a .npz file"),
    FormatInfo(Format.TEXT_FILES, "text: a .txt file or a folder of .txt/.jsonl files (class subfolders of .txt "
               "files are labels)", "a folder, or a .txt (or any other) file"),
    FormatInfo(Format.JSONL, "JSON lines, a text field per record", "a .jsonl file"),
    FormatInfo(Format.AUDIO_FOLDER, "a folder of WAV/FLAC files (class subfolders are labels)", "any folder",
               "soundfile, for FLAC"),
    FormatInfo(Format.FRAME_FOLDERS, "a folder of clip folders of frame images", "any folder"),
    FormatInfo(Format.TU_FOLDER, "a TU benchmark folder (DS_A.txt, DS_graph_indicator.txt, ...)",
               "a folder with a *_A.txt file"),
    FormatInfo(Format.EDGE_LIST, "an edge list of 'graph src dst' lines", "a .txt, .csv or .edges file"),
)}

MODALITY_FORMATS: dict[str, tuple[Format, ...]] = {
    "image": (Format.IMAGE_FOLDER, Format.WEBDATASET, Format.PARQUET, Format.HF_DATASET, Format.NPZ),
    "text": (Format.TEXT_FILES, Format.JSONL, Format.PARQUET, Format.HF_DATASET, Format.NPZ),
    "audio": (Format.AUDIO_FOLDER, Format.NPZ),
    "video": (Format.FRAME_FOLDERS, Format.NPZ),
    "graph": (Format.TU_FOLDER, Format.EDGE_LIST, Format.NPZ),
}
"""The formats each modality's ``*_files`` dataset reads, the first being what a plain folder is."""

_SUFFIXES = {".npz": Format.NPZ, ".parquet": Format.PARQUET, ".tar": Format.WEBDATASET, ".jsonl": Format.JSONL,
             ".csv": Format.EDGE_LIST, ".edges": Format.EDGE_LIST}
_FOLDER = {"image": Format.IMAGE_FOLDER, "text": Format.TEXT_FILES, "audio": Format.AUDIO_FOLDER,
           "video": Format.FRAME_FOLDERS}


class FormatError(ValueError):
    """A path that is none of a modality's formats, or a format the modality does not read; one line.

    ``found`` says what the path was seen to be, ``allowed`` lists what the modality reads.
    """

    def __init__(self, message: str, *, found: str, allowed: str, reason: str = "") -> None:
        super().__init__(message)
        self.found = found
        self.allowed = allowed
        self.reason = reason or message
        """The message without the path, for a face that shows it on the path's row."""


def choices(modality: str) -> tuple[str, ...]:
    """The values ``data.format`` may take for ``modality``: ``auto`` and its formats."""
    return (AUTO, *(f.value for f in MODALITY_FORMATS[modality]))


def allowed(modality: str) -> str:
    """The formats ``modality`` reads, by the names ``data.format`` takes, for messages (short: it ends a row)."""
    names = [f.value for f in MODALITY_FORMATS[modality]]
    return f"{', '.join(names[:-1])} or {names[-1]} (sslterm catalog: FORMATS)"


def expand(path: str) -> list[str]:
    """The paths ``path`` names: itself when it exists, else a glob's matches (sorted) or a brace pattern's names."""
    if Path(path).exists():
        return [path]
    if any(c in path for c in GLOB_CHARS):
        return sorted(glob.glob(path))
    return expand_shards(path)


def is_hf_dataset(folder: Path) -> bool:
    """Whether ``folder`` was written by ``save_to_disk``: a DatasetDict, or one split's files."""
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file())


def _seen(path: str, modality: str) -> tuple[Format | None, str]:
    """The format ``path`` looks like to ``modality`` (None: none), and what was found, in words."""
    p = Path(path)
    names = expand(path)
    if len(names) != 1 or names[0] != path:                   # a pattern: every match decides
        kinds = {_SUFFIXES.get(Path(n).suffix.lower()) for n in names}
        if not names:
            return None, "a pattern matching no file"
        if len(kinds) == 1 and next(iter(kinds)) in (Format.WEBDATASET, Format.PARQUET):
            return next(iter(kinds)), f"a pattern of {len(names)} {Path(names[0]).suffix} file(s)"
        return None, f"a pattern matching {len(names)} files of mixed or unknown kinds"
    if p.is_dir():
        if is_hf_dataset(p):
            return Format.HF_DATASET, "a Hugging Face save_to_disk folder"
        if modality == "graph":
            tu = any(p.glob("*_A.txt"))
            return (Format.TU_FOLDER, "a TU folder") if tu else (None, "a folder without a *_A.txt file")
        if any(p.glob("*.parquet")):
            return Format.PARQUET, "a folder of .parquet files"
        return _FOLDER.get(modality), "a folder"
    suffix = p.suffix.lower()
    if suffix == ".txt":
        return (Format.EDGE_LIST if modality == "graph" else Format.TEXT_FILES), "a .txt file"
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix], f"a {suffix} file"
    if modality == "text" and p.is_file():                    # any other file is read as text
        return Format.TEXT_FILES, f"a {suffix or 'suffix-less'} file"
    return None, f"a {suffix or 'suffix-less'} file" if p.is_file() else "nothing that exists"


def labelled_text_folder(path: Path, options: dict[str, Any]) -> bool:
    """Whether the text at ``path`` is read as labelled lines: a folder of class subfolders of .txt files,
    unless ``data.labels = "none"`` says its subfolders only organise unlabelled documents."""
    return options.get("labels", "auto") != "none" and path.is_dir() and bool(text_class_folders(path))


def text_class_folders(root: Path) -> tuple[str, ...]:
    """Names of the subfolders of ``root`` holding .txt files (class labels: labelled text), sorted."""
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    return tuple(d.name for d in subdirs if any(d.rglob("*.txt")))


def detect(path: str | Path, modality: str, override: str = AUTO) -> Format:
    """The format of ``path`` for ``modality``: ``override`` when it names one, else detected from the path.

    Raises :class:`FormatError` for a format ``modality`` does not read, and for a path that is none of them.
    """
    if modality not in MODALITY_FORMATS:
        raise FormatError(f"modality {modality!r} reads no files; expected one of {', '.join(MODALITY_FORMATS)}",
                          found=modality, allowed=", ".join(MODALITY_FORMATS))
    permitted = MODALITY_FORMATS[modality]
    if override != AUTO:
        if override not in {f.value for f in permitted}:
            raise FormatError(f"data.format {override!r} is not read for {modality}; expected one of "
                              f"{', '.join(choices(modality))}", found=override, allowed=", ".join(choices(modality)))
        return Format(override)
    fmt, found = _seen(str(path), modality)
    if fmt is None or fmt not in permitted:
        reason = f"found {found}; {modality} reads {allowed(modality)}"
        raise FormatError(f"{path}: {reason}", found=found, allowed=allowed(modality), reason=reason)
    return fmt


def table(modality: str) -> list[FormatInfo]:
    """The formats ``modality`` reads, for ``sslterm catalog`` and the docs."""
    return [FORMATS[f] for f in MODALITY_FORMATS[modality]]
