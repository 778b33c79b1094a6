"""Files in a run directory: never written through a symbolic link, and never group- or world-writable."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sslterm import config
from sslterm.store import create_run
from sslterm.store.jsonl import JsonlWriter, truncate_after
from sslterm.train.loop import train
from tests.conftest import TINY, prepare_run


def tiny(*extra: str) -> config.Experiment:
    return config.from_overrides([*TINY, "eval.every=0", *extra])


def test_resume_never_follows_a_metrics_symlink(tmp_path: Path) -> None:
    run = create_run(tmp_path / "runs", "linked")
    asked = iter(range(1, 100))
    train(tiny("train.steps=4"), run, lambda: next(asked) >= 2, lambda s, d: None)
    precious = tmp_path / "precious.jsonl"
    precious.write_bytes(b'{"step": 1}\n{"step": 2}\n{"step": 3}\n{"step": 4}\n')
    run.metrics_path.unlink()
    run.metrics_path.symlink_to(precious)
    with pytest.raises(OSError) as caught:
        train(tiny("train.steps=4"), run, lambda: False, lambda s, d: None, resume=True)
    assert str(caught.value) == (f"{run.metrics_path} is a symbolic link; sslterm writes only regular files in a "
                                 "run directory"), "one line for the run's status"
    assert precious.read_bytes() == b'{"step": 1}\n{"step": 2}\n{"step": 3}\n{"step": 4}\n', "not cut back"


def test_log_writer_and_cutter_refuse_symlinks(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.jsonl"
    target.write_bytes(b'{"step": 1}\n{"step": 2}\n')
    link = tmp_path / "metrics.jsonl"
    link.symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        JsonlWriter(link)
    with pytest.raises(OSError, match="symbolic link"):
        truncate_after(link, 1)
    dangling = tmp_path / "snapshots.jsonl"
    dangling.symlink_to(tmp_path / "created-through-the-link.jsonl")
    with pytest.raises(OSError, match="symbolic link"):
        JsonlWriter(dangling)
    assert target.read_bytes() == b'{"step": 1}\n{"step": 2}\n'
    assert not (tmp_path / "created-through-the-link.jsonl").exists()


def everything_under(root: Path) -> Iterator[Path]:
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


@pytest.mark.parametrize("umask", [0o002, 0o000])
def test_nothing_written_is_group_or_world_writable_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    runs = tmp_path / "runs"
    old = os.umask(umask)
    try:
        run = create_run(runs, "umask")
        train(tiny("train.steps=4"), run, lambda: False, lambda s, d: None)
        train(tiny("train.steps=6"), run, lambda: False, lambda s, d: None, resume=True)
    finally:
        os.umask(old)
    assert (runs / ".cache" / "datasets").is_dir()
    loose = [f"{p.relative_to(tmp_path)} {stat.filemode(p.stat().st_mode)}" for p in everything_under(runs)
             if p.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)]
    assert loose == []


@pytest.mark.parametrize("umask", [0o002, 0o000])
def test_the_files_a_launch_writes_are_not_group_or_world_writable(tmp_path: Path, umask: int) -> None:
    from sslterm.atomic import open_append
    from sslterm.store.status import touch_heartbeat

    old = os.umask(umask)
    try:
        run_dir = prepare_run(tmp_path / "runs")                   # config.toml and status.json
        touch_heartbeat(run_dir)
        with open_append(run_dir / "worker.log") as log:            # as the launcher opens the worker's output
            log.write(b"started\n")
    finally:
        os.umask(old)
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.toml", "status.json", "heartbeat", "worker.log"} <= names
    loose = [f"{p.name} {stat.filemode(p.stat().st_mode)}" for p in everything_under(tmp_path / "runs")
             if p.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)]
    assert loose == []
