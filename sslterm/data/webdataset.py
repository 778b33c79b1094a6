"""WebDataset ``.tar`` shards (``shards/train-{000000..000146}.tar``) as a source of images to prepare.

A shard is an uncompressed tar file whose members are grouped into samples by their name up to the
first dot of the file name (``n01440764/000123.jpg`` and ``n01440764/000123.cls`` are one sample):
the image is the sample's JPEG/PNG/WebP member, the optional label its ``.cls`` (or ``.label``)
member's text. Reading a shard only lists it: each image is later decoded straight from its offset in
the shard (:func:`sslterm.decoding.tar_member`), by the preparation's worker processes; nothing is
extracted. Only the standard library's ``tarfile`` is needed.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np

from sslterm.data.npz import encode_labels
from sslterm.data.prepare import Source
from sslterm.decoding import SUFFIXES, expand_shards, tar_member

EXPECTED = ("uncompressed WebDataset .tar shards (a pattern such as shards/train-{000000..000009}.tar) whose "
            "samples hold a JPEG/PNG/WebP image and optionally a .cls label")
LABEL_EXTENSIONS = ("cls", "label")


def _samples(shard: Path) -> list[tuple[str, tarfile.TarInfo, str | None]]:
    """(name, image member, label text or None) of every sample with an image, in the shard's order."""
    images: dict[str, tarfile.TarInfo] = {}
    labels: dict[str, str] = {}
    try:
        with tarfile.open(shard, "r:") as tar:                  # uncompressed: images are read in place later
            for m in tar:
                if not m.isfile():
                    continue
                folder, _, base = m.name.rpartition("/")
                stem, _, ext = base.partition(".")
                key = f"{folder}/{stem}" if folder else stem
                if f".{ext.rsplit('.', 1)[-1].lower()}" in SUFFIXES:
                    images.setdefault(key, m)
                elif ext.lower() in LABEL_EXTENSIONS:
                    data = tar.extractfile(m)
                    labels[key] = data.read().decode("utf-8", "replace").strip() if data else ""
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ValueError(f"{shard}: not a readable tar file ({type(e).__name__}: {e}); expected {EXPECTED}") from None
    return [(f"{shard.name}:{m.name}", m, labels.get(key)) for key, m in images.items()]


def shard_source(pattern: str, limit: int = 0) -> Source:
    """The images of the shards named by ``pattern`` (in shard order, then member order); at most ``limit``."""
    shards = [Path(s) for s in expand_shards(pattern)]
    missing = [s for s in shards if not s.is_file()]
    if missing:
        raise ValueError(f"{pattern}: {len(missing)} of {len(shards)} shard(s) missing, e.g. {missing[0]}; "
                         f"expected {EXPECTED}")
    items, names, raw = [], [], []
    for shard in shards:
        for name, member, label in _samples(shard):
            items.append(tar_member(shard, member.offset_data, member.size))
            names.append(name)
            raw.append(label)
    if limit:
        items, names, raw = items[:limit], names[:limit], raw[:limit]
    if len(items) < 2:
        raise ValueError(f"{pattern}: {len(items)} image(s) in {len(shards)} shard(s); expected at least 2 in "
                         f"{EXPECTED}")
    unlabelled = sum(label is None for label in raw)
    labels: list[int] = [-1] * len(items)
    classes: tuple[str, ...] = ()
    if unlabelled and unlabelled < len(raw):
        raise ValueError(f"{pattern}: {len(raw) - unlabelled} samples have a .cls label and {unlabelled} do not; "
                         f"expected all or none labelled")
    if not unlabelled:
        texts = np.array([str(label) for label in raw])
        numeric = all(t.lstrip("-").isdecimal() for t in texts)
        index, classes = encode_labels(texts.astype(np.int64) if numeric else texts, len(texts), pattern, EXPECTED)
        labels = index.tolist()
    root = Path(os.path.commonpath([str(s.parent.resolve()) for s in shards]))
    return Source(Path(pattern), items, names, labels, classes, [s.resolve() for s in shards], root)
