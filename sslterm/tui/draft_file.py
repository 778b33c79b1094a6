"""An experiment draft as a TOML file: its file name, its text (an existing file edited in place), the save."""

from __future__ import annotations

import os
from pathlib import Path

from sslterm import tomlio
from sslterm.atomic import atomic_write_text, make_dir
from sslterm.sweep.spec import SWEEP_TABLE
from sslterm.tomledit import update_toml
from sslterm.tui.draft import Draft


def experiment_file_name(text: str) -> str:
    """A file name for ``experiments/`` from what the user typed (``.toml`` added); ValueError says what is wrong."""
    name = text.strip()
    if not name:
        raise ValueError("the file needs a name, such as image-simclr.toml")
    if any(sep and sep in name for sep in ("/", "\\", os.sep, os.altsep)):
        raise ValueError(f"{name!r} is a path: give a plain file name (it is saved in experiments/)")
    if name.startswith(".") or not name.isprintable():
        raise ValueError(f"{name!r}: a file name may not start with '.' or hold control characters")
    return name if name.endswith(".toml") else f"{name}.toml"


def file_text(draft: Draft, existing: str | None) -> tuple[str, bool]:
    """The text to save and whether the existing file's comments were kept.

    A new file lists every key, with a short header; an existing one is edited in place, or, when it
    cannot be (not TOML, or TOML the editor does not rewrite), written anew.
    """
    if draft.experiment is None:
        raise ValueError("the experiment is not valid")
    table = draft.sweep.table()
    if existing is not None:
        try:
            return update_toml(existing, {**draft.raw, **({SWEEP_TABLE: table} if table else {})}), True
        except ValueError:
            pass  # written anew below; the caller says the comments were lost
    exp = draft.experiment
    header = (f"{exp.name}: {exp.objective.name} on {exp.data.dataset} ({exp.data.modality}), "
              f"written by the sslterm launcher.\n`sslterm catalog` lists what each key means and allows.")
    sweep = f"\n# `sslterm sweep FILE` runs this sweep.\n{tomlio.dumps({SWEEP_TABLE: table})}" if table else ""
    return exp.to_toml(header=header) + sweep, existing is None


def write_experiment(path: Path, draft: Draft) -> bool:
    """Save ``draft`` at ``path`` (atomically); False when an existing file's comments could not be kept."""
    existing = path.read_text(encoding="utf-8") if path.exists() else None
    text, kept = file_text(draft, existing)
    make_dir(path.parent)
    atomic_write_text(path, text)
    return kept
