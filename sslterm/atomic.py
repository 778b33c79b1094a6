"""The one atomic write: a unique temporary file beside the target, fsync, replace, fsync of the directory."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o644
"""Mode of every file sslterm writes, whatever the umask (docs/reliability.md)."""
DIR_MODE = 0o755
"""Mode of every directory sslterm creates, whatever the umask."""


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable; a no-op where the filesystem refuses to fsync directories."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


def make_dir(path: Path, mode: int = DIR_MODE) -> Path:
    """Create ``path`` and its missing parents with ``mode`` exactly (the umask does not apply)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, mode)
            os.chmod(d, mode)
    return path


@contextlib.contextmanager
def _temporary(path: Path, mode: int) -> Iterator[tuple[BinaryIO, Path]]:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            yield f, tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: Path, write: Callable[[BinaryIO], None], *, durable: bool = True,
                 mode: int = FILE_MODE) -> None:
    """Replace ``path`` with what ``write`` writes to a binary file, all or nothing.

    The temporary name is unique (pid and random suffix) in the target's directory, so two writers never
    share one and a crash leaves at worst a stray ``.NAME.tmp-*`` file, never a torn target. ``durable``
    fsyncs the data before the rename and the directory after it (use False only for records that are
    rewritten every few seconds, such as a heartbeat). A symlink at ``path`` is replaced, never followed.
    """
    path = Path(path)
    with _temporary(path, mode) as (f, tmp):
        write(f)
        f.flush()
        if durable:
            os.fsync(f.fileno())
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def open_append(path: Path) -> BinaryIO:
    """Open ``path`` to append bytes, creating it with FILE_MODE (never looser, whatever the umask).

    For logs that grow (a worker's output); an existing file keeps its mode.
    """
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE), "ab")


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True, mode: int = FILE_MODE) -> None:
    """:func:`atomic_write` of ``data``."""
    def write(f: BinaryIO) -> None:
        f.write(data)

    atomic_write(path, write, durable=durable, mode=mode)


def atomic_write_text(path: Path, text: str, *, durable: bool = True, mode: int = FILE_MODE) -> None:
    """:func:`atomic_write` of ``text`` as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable, mode=mode)
