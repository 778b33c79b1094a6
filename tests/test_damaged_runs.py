"""Damaged run directories: one line for the damaged run, and every other run unaffected."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch

from sslterm import config
from sslterm.evaluate import transfer
from sslterm.store import Run, create_run, read_records
from sslterm.store.jsonl import MAX_RECORD, JsonlTail
from sslterm.train.loop import train
from tests.conftest import TINY, prepare_run, sslterm


def trained(runs: Path, steps: int = 2) -> Path:
    """A tiny run of ``steps`` steps, trained in this process into a directory the CLI finds."""
    run_dir = prepare_run(runs, f"train.steps={steps}", "eval.every=0")
    train(config.load(run_dir / "config.toml"), Run(run_dir), lambda: False, lambda s, d: None)
    return run_dir


def one_line(proc: object) -> str:
    stderr = getattr(proc, "stderr", "")
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    return stderr.strip()


def test_a_metrics_log_that_is_a_directory_breaks_no_listing(runs: Path) -> None:
    good = prepare_run(runs)
    (good / "metrics.jsonl").write_text('{"step": 1, "loss": 2.5}\n')
    bad = prepare_run(runs)
    (bad / "metrics.jsonl").mkdir()
    proc = sslterm("ls", "--json", runs=runs)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    listed = {r["id"]: r for r in json.loads(proc.stdout)}
    assert set(listed) == {good.name, bad.name}
    assert listed[good.name]["summary"]["loss"] == 2.5
    for args in (("show", bad.name), ("export", bad.name), ("show", good.name)):
        proc = sslterm(*args, runs=runs)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
    tail = JsonlTail(bad / "metrics.jsonl")
    assert tail.read_all() == [] and tail.problem == "metrics.jsonl is a directory, not a log file"


def test_a_record_line_over_the_limit_is_skipped_and_the_rest_read(runs: Path) -> None:
    run = prepare_run(runs)
    lines = [json.dumps({"step": s, "loss": 1.0 / s}).encode() for s in range(1, 21)]
    lines[2] = json.dumps({"step": 3, "junk": "x" * (MAX_RECORD + 10)}).encode()
    (run / "metrics.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    records = read_records(run / "metrics.jsonl")
    assert [r["step"] for r in records] == [s for s in range(1, 21) if s != 3]
    tail = JsonlTail(run / "metrics.jsonl")
    polled = [r["step"] for _ in range(5) for r in tail.read(max_bytes=4096)]   # as the dashboard polls
    assert polled == [s for s in range(1, 21) if s != 3] and tail.bad == 1 and tail.problem
    proc = sslterm("show", run.name, "--json", runs=runs)
    assert proc.returncode == 0 and json.loads(proc.stdout)["summary"]["loss"] == 1.0 / 20, "step 20's loss"


def test_a_long_line_still_being_written_waits(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1}\n' + b"x" * (MAX_RECORD + 5))           # no newline yet
    tail = JsonlTail(path)
    assert [r["step"] for r in tail.read()] == [1]
    assert tail.read() == [] and tail.bad == 0
    with open(path, "ab") as f:
        f.write(b'\n{"step": 2}\n')
    assert [r["step"] for r in tail.read_all()] == [2] and tail.bad == 1


@pytest.mark.parametrize("damage", ["garbage", "pickle-protocol", "truncated", "keyless", "empty"])
def test_export_encoder_of_a_damaged_checkpoint_is_one_line(runs: Path, tmp_path: Path, damage: str) -> None:
    run = trained(runs)
    ckpt = run / "checkpoints" / "last.pt"
    if damage == "garbage":
        ckpt.write_bytes(os.urandom(4096))
    elif damage == "pickle-protocol":                   # torch warns "please file an issue" on stderr
        ckpt.write_bytes(b"\x80\x8d" + bytes(range(256)) * 8)
    elif damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    elif damage == "keyless":
        torch.save({"something": torch.zeros(3)}, ckpt)
    else:
        ckpt.write_bytes(b"")
    proc = sslterm("export", run.name, "--encoder", str(tmp_path / "enc.pt"), runs=runs)
    line = one_line(proc)
    assert proc.returncode == 1 and "cannot read the checkpoint" in line and str(ckpt) in line, line
    assert not (tmp_path / "enc.pt").exists()


def test_eval_of_a_run_it_cannot_write_fails_before_computing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    run = create_run(tmp_path / "runs", "ro")
    train(config.from_overrides([*TINY, "train.steps=2", "eval.every=0"]), run, lambda: False, lambda s, d: None)
    real_open = os.open

    def read_only_mount(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if flags & os.O_CREAT and Path(path).parent == run.path:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args)

    def must_not_compute(*args: object, **kwargs: object) -> None:
        raise AssertionError("evaluation computed although its result cannot be saved")

    monkeypatch.setattr(os, "open", read_only_mount)
    monkeypatch.setattr(transfer, "restore", must_not_compute)
    with pytest.raises(transfer.RunNotWritable) as caught:
        transfer.evaluate_run(run, "cpu", fractions=())
    assert str(caught.value) == (f"cannot save the evaluation of {run.id}: cannot write in {run.path}: "
                                 "Read-only file system; nothing was computed")
    assert isinstance(caught.value, RuntimeError), "the CLI's eval prints RuntimeErrors as one line, exit 1"


DAMAGE = {
    "config-not-utf8": ("config.toml", b"[[[ not toml \xff\xfe"),
    "status-nested": ("status.json", b'{"id": "x", "error": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    "status-huge-step": ("status.json", None),
    "status-infinite-time": ("status.json", None),
    "eval-nested": ("eval.json", b"[" * 5000 + b"]" * 5000),
    "status-dangling-link": ("status.json", None),
    "metrics-nested": ("metrics.jsonl", b'{"step": 1, "loss": 2.0}\n' + b"[" * 5000 + b"]" * 5000 + b"\n"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_file_is_one_line_and_spares_the_other_runs(runs: Path, damage: str) -> None:
    good = prepare_run(runs)
    (good / "metrics.jsonl").write_text('{"step": 1, "loss": 2.5}\n')
    bad = prepare_run(runs)
    name, content = DAMAGE[damage]
    if damage == "status-huge-step":
        content = (bad / name).read_bytes().replace(b'"step": 0', b'"step": 1' + b"0" * 400)
    elif damage == "status-infinite-time":
        record = json.loads((bad / name).read_text())
        content = json.dumps({**record, "created_at": float("inf")}).encode()
    if damage == "status-dangling-link":
        (bad / name).unlink()
        (bad / name).symlink_to(bad / "nowhere.json")
    else:
        assert content is not None
        (bad / name).write_bytes(content)
    listed = sslterm("ls", "--json", runs=runs)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr[-500:]
    by_id = {r["id"]: r for r in json.loads(listed.stdout)}
    assert set(by_id) == {good.name, bad.name} and by_id[good.name]["summary"]["loss"] == 2.5
    assert sslterm("ls", runs=runs).returncode == 0
    for command in (("show", bad.name), ("show", bad.name, "--json"), ("compare", bad.name, good.name),
                    ("export", bad.name), ("stop", bad.name)):
        proc = sslterm(*command, runs=runs)
        lines = proc.stderr.strip().splitlines()
        assert "Traceback" not in proc.stderr and len(lines) <= 1, (command, proc.stderr[-500:])
        assert len(proc.stderr) < 400, proc.stderr
        if damage.startswith("status"):
            assert proc.returncode == 2 and "status.json" in proc.stderr, (command, proc.stderr)
