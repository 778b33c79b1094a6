"""Notes the launcher shows under fields whose values are allowed but likely not what was meant (no UI)."""

from __future__ import annotations

from typing import Any

from sslterm.config import Experiment


def schedule_notes(exp: Experiment | None) -> dict[str, list[str]]:
    """Field key → notes: a run shorter than its evaluation or snapshot interval measures only at its end.

    The training loop evaluates every ``eval.every`` steps and at the last one, and snapshots the
    similarity matrix at step 0, every ``train.snapshot_every`` steps and at the last one.
    """
    notes: dict[str, list[str]] = {}
    if exp is None:
        return notes
    steps, every, snapshot_every = exp.train.steps, exp.eval.every, exp.train.snapshot_every
    if 0 < steps <= every:
        note = f"note: eval.every {every} ≥ {steps} steps: representation measured at the end only"
        for key in ("train.steps", "eval.every"):
            notes.setdefault(key, []).append(note)
    if 0 < steps <= snapshot_every:
        note = f"note: snapshot_every {snapshot_every} ≥ {steps} steps: similarity at steps 0 and {steps} only"
        for key in ("train.steps", "train.snapshot_every"):
            notes.setdefault(key, []).append(note)
    return notes


def auto_notes(exp: Experiment | None) -> dict[str, list[str]]:
    """Field key → the value derived from the data's shape and why ("auto: 2, from 160-sample clips"), for
    keys left unset, on your own data (from what its files say: headers and sizes, read once per file
    version) or where it differs from the catalog's default; and the augmentations an objective whose
    targets are its input leaves out."""
    notes: dict[str, list[str]] = {}
    if exp is None:
        return notes
    from sslterm import autoconf, autoscan, rules

    if autoscan.pending(exp):
        exp = _settled(exp)
    own = bool(exp.data.options.get("path"))
    defaults = {k: p.default for k, _, p in autoconf.rules_for(exp.data.dataset, exp.model.encoder,
                                                               exp.objective.name, tuple(exp.augment))}
    values = exp.to_dict()
    for key, reason in exp.auto.items():
        if own or _lookup(values, key) != defaults.get(key):
            notes.setdefault(key, []).append(reason or "auto: derived from the data when the run starts")
    said = rules.skipped_augmentations(exp.objective.name, exp.augment)
    for name in rules.skipped_for_targets(exp.objective.name, exp.augment):
        notes.setdefault(f"augment.{name}", []).append(f"note: {said}")
    return notes


def _lookup(values: dict[str, Any], key: str) -> Any:
    node: Any = values
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


_SETTLED: dict[str, Experiment] = {}


def _settled(exp: Experiment) -> Experiment:
    """``exp`` settled from its files (:func:`sslterm.autoscan.settle`), kept per configuration and file version;
    ``exp`` itself when its files cannot be read (the run names what is wrong)."""
    import json
    from pathlib import Path

    from sslterm import autoscan
    from sslterm.errors import ConfigError

    path = Path(str(exp.data.options.get("path", "")))
    try:
        stamp = path.stat().st_mtime_ns if path.exists() else 0
    except OSError:
        stamp = 0
    key = json.dumps([exp.to_dict(), stamp], sort_keys=True, default=str)
    if key not in _SETTLED:
        try:
            _SETTLED[key] = autoscan.settle(exp)
        except ConfigError:
            _SETTLED[key] = exp
        while len(_SETTLED) > 8:
            _SETTLED.pop(next(iter(_SETTLED)))
    return _SETTLED[key]


def field_notes(exp: Experiment | None) -> dict[str, list[str]]:
    """Every note the launcher shows under its fields: :func:`schedule_notes` and :func:`auto_notes`."""
    notes = schedule_notes(exp)
    for key, more in auto_notes(exp).items():
        notes.setdefault(key, []).extend(more)
    return notes
