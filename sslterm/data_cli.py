"""``sslterm data prepare|ls|rm``: prepare a dataset ahead of its first run, list prepared datasets, remove them.

Mounted by :mod:`sslterm.cli` as the ``data`` command group. Nothing is imported at start-up beyond
typer: preparing imports numpy (and Pillow in its worker processes), listing and removing read the
manifests only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sslterm.cli_args import fail
from sslterm.formats import labelled_text_folder

if TYPE_CHECKING:
    from sslterm.prepared import Entry

data_app = typer.Typer(help="Prepare datasets once (decoded or tokenised into memory-mapped files), list and "
                            "remove them. They live in $SSLTERM_DATA_CACHE, else ~/.cache/sslterm/data.",
                       no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})

KINDS = ("auto", "image", "text", "audio", "video")


def _kind_of(path: Path) -> str:
    """``image`` for a folder holding image files, ``audio`` for WAV/FLAC files, ``text`` for .txt/.jsonl files
    or folders of them (frame folders look like image class folders: ``--kind video`` says which)."""
    from sslterm.decoding import SUFFIXES
    from sslterm.decoding_audio import AUDIO_SUFFIXES
    from sslterm.formats import Format, FormatError, detect

    try:
        table = detect(path, "text") in (Format.PARQUET, Format.HF_DATASET)
    except FormatError:
        table = False
    if table:                                   # Parquet, a Hugging Face folder: images when it has an image column
        from sslterm.data.arrow import columns, open_table

        try:
            found = columns(open_table(str(path), detect(path, "text")).train.files[0])
        except ValueError as e:
            fail(f"data prepare: {e}")
        return "image" if "image" in found else "text"
    if path.suffix.lower() == ".tar":
        return "image"
    if path.is_file():
        if path.suffix.lower() in (".txt", ".jsonl"):
            return "text"
        fail(f"data prepare: {path} is a {path.suffix or 'suffix-less'} file; expected a folder of JPEG/PNG/WebP "
              "images (or class subfolders of them), a .txt or .jsonl file, or a folder of them")
    for f in path.rglob("*"):
        if f.suffix.lower() in SUFFIXES:
            return "image"
        if f.suffix.lower() in (".txt", ".jsonl"):
            return "text"
        if f.suffix.lower() in AUDIO_SUFFIXES:
            return "audio"
    fail(f"data prepare: {path} holds no JPEG/PNG/WebP images, no .wav/.flac files and no .txt or .jsonl files; "
          "expected one of those")


@data_app.command("prepare")
def prepare_cmd(
    path: Annotated[Path, typer.Argument(help="An image folder (class subfolders are labels), WebDataset .tar shards "
                                              "(quote a pattern: 'train-{000000..000009}.tar'), or text: a .txt or "
                                              ".jsonl file or a folder of them.", show_default=False)],
    kind: Annotated[str, typer.Option("--kind", help=f"What the data is: {', '.join(KINDS)}.")] = "auto",
    image_size: Annotated[int, typer.Option("--image-size", help="Images and video frames: the side they are "
                                                                 "resized to (the run's data.image_size).")] = 32,
    sample_rate: Annotated[int, typer.Option("--sample-rate", help="Audio: the rate clips are resampled to (the "
                                                                   "run's data.sample_rate).")] = 16000,
    clip_seconds: Annotated[float, typer.Option("--clip-seconds", help="Audio: the length clips are cut or padded "
                                                                       "to (the run's data.clip_seconds).")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/held-out split (the run's data.seed).")] = 0,
    max_examples: Annotated[int, typer.Option("--max-examples", help="Images: at most this many files (0: all; "
                                                                     "the run's data.max_examples).")] = 0,
    text_field: Annotated[str, typer.Option("--text-field", help="Text: the field of .jsonl records.")] = "text",
    tokenizer: Annotated[str, typer.Option("--tokenizer", help="Text: bytes, or bpe (a byte-level BPE trained on the "
                                                               "training text; the run's data.tokenizer).")] = "bytes",
    vocab_size: Annotated[int, typer.Option("--vocab-size", help="Text: BPE tokens (the run's data.vocab_size).")
                          ] = 8192,
    workers: Annotated[int, typer.Option("--workers", help="Decoding processes (0: one per core).")] = 0,
    max_bad: Annotated[float, typer.Option("--max-bad", help="Images: largest share of unreadable files to skip "
                                                             "before stopping.")] = 0.01,
) -> None:
    """Prepare PATH as a run with the same options would, so that the run starts at once."""
    from sslterm.formats import expand

    names = expand(str(path))
    missing = [n for n in names if not Path(n).exists()] or ([] if names else [str(path)])
    if missing:
        fail(f"data prepare: {missing[0]} does not exist; expected an image folder, WebDataset .tar shards "
              "(a pattern such as train-{000000..000009}.tar) or a .txt/.jsonl file or folder")
    if kind not in KINDS:
        fail(f"data prepare: --kind {kind!r} is not one of {', '.join(KINDS)}")
    if not 8 <= image_size <= 512 or workers < 0 or max_examples < 0 or not 0 <= max_bad <= 1:
        fail("data prepare: --image-size must be 8..512, --workers and --max-examples ≥ 0, --max-bad 0..1")
    if not 1000 <= sample_rate <= 192000 or not 0.01 <= clip_seconds <= 600:
        fail("data prepare: --sample-rate must be 1000..192000 and --clip-seconds 0.01..600")
    kind = _kind_of(path) if kind == "auto" else kind
    try:
        if kind == "image":
            from sslterm.data.prepare import prepare_images, print_progress

            entry, manifest = prepare_images(path, image_size, seed, max_examples, workers=workers, max_bad=max_bad,
                                             progress=print_progress(f"preparing {path}"))
            c = manifest["counts"]
            typer.echo(f"{entry}: {c['train']:,} training and {c['eval']:,} held-out images of "
                       f"{image_size}x{image_size}, {len(manifest['classes'])} classes, {c['bad']} unreadable skipped")
        elif kind in ("audio", "video"):
            _prepare_media(path, kind, image_size, sample_rate, clip_seconds, seed, max_examples, workers, max_bad)
        elif tokenizer == "bpe" and labelled_text_folder(path, {}):
            from sslterm.data.labelled_bpe import prepare_labelled_bpe

            entry, manifest = prepare_labelled_bpe(path, vocab_size, seed)
            c = manifest["counts"]
            typer.echo(f"{entry}: {c['train'] + c['eval']:,} labelled lines ({c['train']:,} training the "
                       f"BPE){_tokens(manifest)}")
        else:
            from sslterm.data.tokens import prepare_text

            if labelled_text_folder(path, {}):
                typer.echo(f"note: {path} has class subfolders, whose lines a run reads as labelled examples "
                           "straight from the files; this prepares them as unlabelled documents, for runs with "
                           "data.labels = 'none'", err=True)
            entry, manifest = prepare_text(path, text_field, seed, tokenizer=tokenizer, vocab_size=vocab_size)
            typer.echo(f"{entry}: {manifest['train_bytes']:,} training and {manifest['eval_bytes']:,} held-out bytes "
                       f"from {manifest['documents']:,} documents (held out: {manifest['held_out']})"
                       f"{_tokens(manifest)}")
    except ValueError as e:
        fail(str(e))
    except KeyboardInterrupt:
        typer.echo("\ninterrupted: run the same command again to resume", err=True)
        raise typer.Exit(130) from None


def _prepare_media(path: Path, kind: str, image_size: int, sample_rate: int, clip_seconds: float, seed: int,
                   max_examples: int, workers: int, max_bad: float) -> None:
    """Prepare an audio folder or frame folders as a run with these options would, and say what was made."""
    from sslterm.data.prepare import print_progress
    from sslterm.data.prepare_media import prepare_audio, prepare_clips

    if kind == "audio":
        length = max(1, round(clip_seconds * sample_rate))
        entry, manifest = prepare_audio(path, sample_rate, length, seed, max_examples, workers=workers,
                                        max_bad=max_bad, progress=print_progress(f"preparing {path}", "audio files"))
        what = f"clips of {length:,} samples at {sample_rate:,} Hz"
    else:
        entry, manifest = prepare_clips(path, image_size, seed, max_examples, workers=workers, max_bad=max_bad,
                                        progress=print_progress(f"preparing {path}", "clips"))
        what = f"clips of {manifest['shape'][0]} frames of {image_size}x{image_size}"
    c = manifest["counts"]
    typer.echo(f"{entry}: {c['train']:,} training and {c['eval']:,} held-out {what}, {len(manifest['classes'])} "
               f"classes, {c['bad']} unreadable skipped")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _tokens(manifest: dict[str, Any]) -> str:
    """A text entry's tokeniser, ``  [bpe 8,192 tokens, 3.9 bytes each]`` or ``  [bytes]``; nothing for other kinds."""
    if manifest.get("kind") != "text":
        return ""
    if manifest.get("tokenizer") != "bpe":
        return "  [bytes]"
    return f"  [bpe {manifest.get('bpe_vocab', 0):,} tokens, {manifest.get('bytes_per_token', 0):.2f} bytes each]"


def _row(e: Entry) -> dict[str, object]:
    m = e.manifest
    counts = m.get("counts") or {k: m[k] for k in ("train_bytes", "eval_bytes", "train_tokens", "eval_tokens")
                                 if k in m}
    row = {"name": e.path.name, "kind": e.kind, "finished": e.finished, "size_bytes": e.size, "source": e.source,
           "counts": counts, "path": str(e.path)}
    if m.get("kind") == "text":
        row.update(tokenizer=m.get("tokenizer", "bytes"), vocab_size=m.get("vocab_size", 258))
    return row


@data_app.command("ls")
def ls_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """List prepared datasets: name, kind, size on disk, state and source."""
    from sslterm.prepared import cache_root, entries

    found = entries()
    if as_json:
        typer.echo(json.dumps([_row(e) for e in found], indent=1))
        return
    if not found:
        typer.echo(f"no prepared datasets in {cache_root()}")
        return
    for e in found:
        state = "ready" if e.finished else "unfinished"
        typer.echo(f"{e.path.name:<24} {e.kind:<7} {_size(e.size):>9}  {state:<10} {e.source}{_tokens(e.manifest)}")


@data_app.command("rm")
def rm_cmd(
    names: Annotated[list[str] | None, typer.Argument(help="Entry names (or unique prefixes) from `sslterm data ls`.",
                                                      show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Remove every prepared dataset.")] = False,
) -> None:
    """Remove prepared datasets (a later run prepares them again when it needs them)."""
    from sslterm.prepared import cache_root, entries, remove

    found = entries()
    if all_ == bool(names):
        fail("data rm: give entry names from `sslterm data ls`, or --all (not both)")
    chosen = found if all_ else []
    for name in names or []:
        matches = [e for e in found if e.path.name.startswith(name)]
        if len(matches) != 1:
            what = "matches no" if not matches else f"matches {len(matches)}"
            fail(f"data rm: {name!r} {what} prepared dataset in {cache_root()}; "
                  "expected a name from `sslterm data ls`")
        chosen.append(matches[0])
    for e in chosen:
        try:
            remove(e.path)
        except BlockingIOError:
            fail(f"data rm: {e.path.name} is being prepared by another process; expected it to finish first")
        typer.echo(f"removed {e.path.name} ({_size(e.size)}, {e.source})")
