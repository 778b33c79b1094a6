"""The one reader of the Arrow family: Parquet files and Hugging Face ``save_to_disk`` folders, batch by batch.

A Parquet source is one ``.parquet`` file, a folder of them, or a glob (``data/*.parquet``). A
Hugging Face folder is one split (``state.json``, ``dataset_info.json`` and ``data-*.arrow`` files,
Arrow IPC streams) or a DatasetDict (``dataset_dict.json`` and a folder per split): its ``train``
split is trained on and its ``validation`` (else ``test``) split, when there is one, is held out.

Everything is read record batch by record batch with pyarrow (imported only here, inside functions),
never as a whole table: images go to :mod:`sslterm.data.prepare`'s parallel decoding as encoded
bytes (a binary column, or the ``{bytes, path}`` struct Hugging Face's ``Image`` feature writes),
text to :mod:`sslterm.data.tokens` one document (row) at a time. Label names come from a
``ClassLabel`` feature in ``dataset_info.json`` when there is one; other labels follow the ``.npz`` rule.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sslterm.data.prepare import Source
from sslterm.formats import Format, expand

BATCH_ROWS = 256
"""Rows read at a time: the most a reader holds in memory (besides Parquet's own row-group buffers)."""
EVAL_SPLITS = ("validation", "test")
"""The splits of a DatasetDict held out, the first found."""


def pyarrow(path: Path | str, what: str = "Parquet") -> Any:
    """The pyarrow module, or one line saying how to install it."""
    try:
        import pyarrow as pa
        import pyarrow.ipc
        import pyarrow.parquet
    except ImportError:
        raise ValueError(f"{path}: reading {what} needs pyarrow: pip install 'sslterm[data]'") from None
    return pa


@dataclass(frozen=True)
class Split:
    """The table files of one split (.parquet files, or Arrow IPC streams) and its features (or {})."""

    files: list[Path]
    features: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """A source's training split, its own held-out split (or None), and every file that fingerprints it."""

    where: str
    train: Split
    held_out: Split | None
    files: list[Path]
    root: Path


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not readable JSON ({type(e).__name__}); expected the file save_to_disk "
                         "writes") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: holds {type(data).__name__}; expected a JSON object as save_to_disk writes")
    return data


def _hf_split(folder: Path) -> Split:
    """One split folder written by ``save_to_disk``: its data files (as state.json lists them) and features."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such split folder; expected the folder save_to_disk writes for a split")
    state = _json(folder / "state.json") if (folder / "state.json").is_file() else {}
    listed = [folder / str(f.get("filename", "")) for f in state.get("_data_files", []) if isinstance(f, dict)]
    files = listed or sorted(folder.glob("data-*.arrow"))
    missing = [f for f in files if not f.is_file()]
    if not files or missing:
        raise ValueError(f"{folder}: {'no data-*.arrow file' if not files else f'{missing[0].name} is missing'}; "
                         "expected the data-*.arrow files save_to_disk writes (state.json lists them)")
    info = _json(folder / "dataset_info.json") if (folder / "dataset_info.json").is_file() else {}
    features = info.get("features")
    return Split(files, features if isinstance(features, dict) else {})


def open_table(path: str, fmt: Format) -> Table:
    """The splits and files of the Parquet or Hugging Face source ``path``; one line naming what is wrong."""
    p = Path(path)
    if fmt is Format.PARQUET:
        files = sorted(p.glob("*.parquet")) if p.is_dir() else [Path(n) for n in expand(path)]
        if not files:
            raise ValueError(f"{path}: no .parquet file found; expected a .parquet file, a folder of them or a glob")
        root = p if p.is_dir() else Path(os.path.commonpath([f.parent for f in files]))
        return Table(path, Split(files), None, files, root)
    if (p / "dataset_dict.json").is_file():
        splits = _json(p / "dataset_dict.json").get("splits")
        names = [str(s) for s in splits] if isinstance(splits, list) else []
        if "train" not in names:
            raise ValueError(f"{path}: a DatasetDict with splits {', '.join(names) or 'none'}; expected a 'train' "
                             "split (or point data.path at one split's folder)")
        train = _hf_split(p / "train")
        held_name = next((s for s in EVAL_SPLITS if s in names), None)
        held = _hf_split(p / held_name) if held_name else None
        folders = [p / "train", *([p / held_name] if held_name else [])]
    else:
        train, held, folders = _hf_split(p), None, [p]
    files = [p / "dataset_dict.json"] if (p / "dataset_dict.json").is_file() else []
    for folder in folders:
        files += [f for f in sorted(folder.iterdir()) if f.is_file() and f.suffix in (".arrow", ".json")]
    return Table(path, train, held, files, p)


def _is_parquet(f: Path) -> bool:
    return f.suffix.lower() == ".parquet"


def columns(f: Path) -> list[str]:
    """The column names of one table file."""
    pa = pyarrow(f, "Parquet" if _is_parquet(f) else "Arrow")
    try:
        if _is_parquet(f):
            return list(pa.parquet.ParquetFile(f).schema_arrow.names)
        with pa.memory_map(str(f)) as src:
            return list(pa.ipc.open_stream(src).schema.names)
    except (OSError, pa.ArrowException) as e:
        raise ValueError(f"{f}: not a readable {'Parquet' if _is_parquet(f) else 'Arrow'} file ({type(e).__name__}: "
                         f"{str(e)[:120]}); expected a Parquet file or an Arrow IPC stream as save_to_disk writes"
                         ) from None


def require(f: Path, column: str, key: str, what: str) -> None:
    """Refuse a file without ``column`` in one line listing the columns it has."""
    found = columns(f)
    if column not in found:
        raise ValueError(f"{f}: no column {column!r} (columns: {', '.join(found) or 'none'}); expected {what} "
                         f"(set {key})")


def batches(f: Path, names: list[str]) -> Iterator[Any]:
    """The record batches of one table file holding only the columns ``names``, BATCH_ROWS rows at a time."""
    pa = pyarrow(f, "Parquet" if _is_parquet(f) else "Arrow")
    try:
        if _is_parquet(f):
            yield from pa.parquet.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS, columns=names)
            return
        with pa.memory_map(str(f)) as src:                 # IPC stream: mapped, each batch sliced, nothing copied
            for batch in pa.ipc.open_stream(src):
                for start in range(0, batch.num_rows, BATCH_ROWS):
                    yield batch.slice(start, BATCH_ROWS).select(names)
    except (OSError, pa.ArrowException) as e:
        raise ValueError(f"{f}: unreadable ({type(e).__name__}: {str(e)[:120]}); expected a Parquet file or an "
                         "Arrow IPC stream as save_to_disk writes") from None


def count_rows(f: Path) -> int:
    """Rows of one table file (Parquet: from its footer; an Arrow stream: batch headers only)."""
    pa = pyarrow(f, "Parquet" if _is_parquet(f) else "Arrow")
    if _is_parquet(f):
        try:
            return int(pa.parquet.ParquetFile(f).metadata.num_rows)
        except (OSError, pa.ArrowException) as e:
            raise ValueError(f"{f}: not a readable Parquet file ({type(e).__name__}); expected Parquet") from None
    return sum(b.num_rows for b in batches(f, []))


def image_bytes(column: Any, where: Path) -> list[bytes | None]:
    """Encoded images of one batch's column: binary values, or HF ``Image``'s ``{bytes, path}`` struct
    (a row without bytes read from its path when that file exists); None where a row has neither."""
    pa = pyarrow(where)
    kind = column.type
    if pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0:
        data = column.field("bytes").to_pylist()
        paths = column.field("path").to_pylist() if kind.get_field_index("path") >= 0 else [None] * len(data)
        return [d if d is not None else _read_path(p, where) for d, p in zip(data, paths, strict=True)]
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return list(column.to_pylist())
    raise ValueError(f"{where}: the image column holds {kind}; expected encoded images (binary, or the "
                     "{bytes, path} struct of Hugging Face's Image feature)")


def _read_path(name: str | None, where: Path) -> bytes | None:
    if not name:
        return None
    p = Path(name) if Path(name).is_absolute() else where.parent / name
    return p.read_bytes() if p.is_file() else None


def column_values(split: Split, column: str) -> list[Any]:
    """Every value of one column of a split, in row order (labels: small)."""
    out: list[Any] = []
    for f in split.files:
        for b in batches(f, [column]):
            out += b.column(0).to_pylist()
    return out


def class_names(split: Split, column: str) -> tuple[str, ...]:
    """The names of a ``ClassLabel`` feature ``column`` (as dataset_info.json declares them), or ()."""
    feature = split.features.get(column)
    names = feature.get("names") if isinstance(feature, dict) else None
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


def texts(split: Split, column: str, key: str = "data.text_field") -> Iterator[bytes]:
    """The text of every row of ``split``'s ``column``, UTF-8 encoded, batch by batch; null rows give b''."""
    for f in split.files:
        require(f, column, key, "a column of text")
        for b in batches(f, [column]):
            values = b.column(0)
            pa = pyarrow(f)
            if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
                raise ValueError(f"{f}: column {column!r} holds {values.type}; expected text (set {key})")
            for text in values.to_pylist():
                yield (text or "").encode("utf-8")


IMAGE_WHAT = "a column of encoded images"


def _has_labels(split: Split, column: str) -> bool:
    """Whether every file of ``split`` has ``column`` and some row a label in it (HF writes -1 for none)."""
    return all(column in columns(f) for f in split.files) and any(
        v is not None and v != -1 for v in column_values(split, column))


def image_source(path: str, fmt: Format, image_column: str = "image", label_column: str = "label",
                 limit: int = 0) -> Source:
    """The images of a Parquet or Hugging Face source as a preparation's :class:`Source` (rows streamed by
    its ``read``); a DatasetDict's held-out split comes last and is held out as it is, unless it has no labels
    where the training split has them (a test split of -1 labels: a seeded share of ``train`` is held out)."""
    import numpy as np

    from sslterm.data.npz import encode_labels

    table = open_table(path, fmt)
    if table.held_out and _has_labels(table.train, label_column) and not _has_labels(table.held_out, label_column):
        table = replace(table, held_out=None)
    splits = [table.train, *([table.held_out] if table.held_out else [])]
    for split in splits:
        for f in split.files:
            require(f, image_column, "data.image_column", IMAGE_WHAT)
    labelled = all(label_column in columns(f) for split in splits for f in split.files)
    names: list[str] = []
    counts: list[int] = []
    for split in splits:
        rows = [(f, count_rows(f)) for f in split.files]
        keep = min(sum(n for _, n in rows), limit or sum(n for _, n in rows))
        counts.append(keep)
        names += [f"{f.name}:{i}" for f, n in rows for i in range(n)][:keep]
    if len(names) < 2:
        raise ValueError(f"{path}: {len(names)} row(s); expected at least 2 rows with an image")
    labels: list[int] = [-1] * len(names)
    classes: tuple[str, ...] = ()
    if labelled:
        raw = [v for split, n in zip(splits, counts, strict=True) for v in column_values(split, label_column)[:n]]
        if any(v is None for v in raw):
            raise ValueError(f"{path}: {sum(v is None for v in raw)} of {len(raw)} rows have no {label_column!r}; "
                             f"expected every row labelled (or set data.label_column to a column that is)")
        classes = class_names(table.train, label_column)
        if classes and all(isinstance(v, int) for v in raw):
            bad = [v for v in raw if not 0 <= v < len(classes)]
            if bad:
                raise ValueError(f"{path}: label {bad[0]} outside the {len(classes)} names of its ClassLabel "
                                 f"feature; expected labels 0..{len(classes) - 1}")
            labels = [int(v) for v in raw]
        else:
            index, classes = encode_labels(np.array(raw), len(raw), path, "integer or string labels")
            labels = index.tolist()

    def read() -> Iterator[bytes]:
        for split, n in zip(splits, counts, strict=True):
            left = n
            for f in split.files:
                for b in batches(f, [image_column]):
                    for data in image_bytes(b.column(0), f)[:left]:
                        yield data or b""                  # a row without an image: unreadable, counted as such
                    left -= min(left, b.num_rows)
                    if not left:
                        break
                if not left:
                    break

    held = counts[1] if table.held_out else 0
    return Source(Path(path), names, names, labels, classes, table.files, table.root, read=read, held_out=held)
