"""Catalog declarations for the audio modality: its datasets, augmentations and encoders."""

from __future__ import annotations

from sslterm.catalog import Entry

ENTRIES: tuple[Entry, ...] = ()
