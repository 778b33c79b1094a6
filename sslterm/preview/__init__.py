"""Augmentation previews for the launcher, computed in a child process: ``python -m sslterm.preview``.

The app never imports torch, so it starts this server once and talks to it over pipes, one JSON
object per line each way. A request::

    {"id": 7, "experiment": {...the tables of an experiment file...}, "samples": 3, "seed": 0}

is answered by ``{"id": 7, "modality": "image", "samples": [...], "notes": [...]}``, where each
sample is ``{"label": str | None, "original": P, "views": [P, P]}`` and a payload ``P`` is plain
JSON (see :mod:`sslterm.preview.payloads`), or by ``{"id": 7, "error": "one line"}``. The views
come from :class:`sslterm.augment.Pipeline` with a seeded generator, called twice, exactly as
training makes its probe views.
"""
