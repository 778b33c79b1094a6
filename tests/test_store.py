"""The run store: tailing an append-only log, atomic status, finding runs, detecting lost runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sslterm.store import (
    JsonlTail,
    JsonlWriter,
    RunNotFound,
    Status,
    StatusError,
    create_run,
    find_run,
    list_runs,
    read_status,
    write_status,
)
from sslterm.store.lock import acquire, release
from sslterm.store.status import effective_state


def test_torn_last_record_is_not_yet_written(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
    tail = JsonlTail(path)
    assert tail.read() == [{"step": 1, "loss": 2.0}]
    assert tail.read() == []
    with open(path, "ab") as f:
        f.write(b'ss": 1.5}\n')
    assert tail.read() == [{"step": 2, "loss": 1.5}]


def test_corrupt_records_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"step": 1}\nnot json\n[1, 2]\n\xff\xfe\n{"step": 2}\n')
    tail = JsonlTail(path)
    assert [r["step"] for r in tail.read()] == [1, 2]
    assert tail.bad == 3


def test_reader_only_reads_new_bytes_and_survives_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    tail = JsonlTail(path)
    assert tail.read() == []
    w = JsonlWriter(path)
    w.write({"step": 1, "loss": float("nan"), "x": float("inf")})
    assert tail.read() == [{"step": 1, "loss": None, "x": "inf"}]
    offset = tail.offset
    w.write({"step": 2})
    assert tail.read() == [{"step": 2}] and tail.offset > offset
    w.close()


WRITER = textwrap.dedent("""
    import random, sys
    from sslterm.store.jsonl import encode
    rng = random.Random(0)
    with open(sys.argv[1], "ab", buffering=0) as f:
        for i in range(int(sys.argv[2])):
            line = encode({"step": i, "pad": "x" * rng.randrange(200)})
            cut = rng.randrange(len(line))
            f.write(line[:cut]); f.write(line[cut:])   # records land in two pieces
""")


def test_reading_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    n = 3000
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n)])
    tail = JsonlTail(path)
    seen: list[int] = []
    while proc.poll() is None:
        seen += [r["step"] for r in tail.read(max_bytes=4096)]
    seen += [r["step"] for r in tail.read_all()]
    assert proc.returncode == 0
    assert seen == list(range(n)) and tail.bad == 0


def test_status_is_replaced_atomically(tmp_path: Path) -> None:
    run = create_run(tmp_path, "x")
    for step in range(50):
        write_status(run.path, Status(id=run.id, state="running", step=step, pid=os.getpid()), durable=step % 10 == 0)
        assert read_status(run.path).step == step
    assert not list(run.path.glob("*status.json.tmp*"))


def test_status_errors_are_plain(tmp_path: Path) -> None:
    with pytest.raises(StatusError, match="not a run directory"):
        read_status(tmp_path)
    (tmp_path / "status.json").write_text("{broken")
    with pytest.raises(StatusError, match="unreadable"):
        read_status(tmp_path)


def test_find_run_by_prefix_and_ambiguity(tmp_path: Path) -> None:
    a = create_run(tmp_path, "alpha")
    b = create_run(tmp_path, "beta")
    for r in (a, b):
        write_status(r.path, Status(id=r.id))
    assert find_run(tmp_path, a.id).id == a.id
    assert find_run(tmp_path, "beta").id == b.id          # unique substring
    assert find_run(tmp_path, str(a.path)).id == a.id     # a path
    with pytest.raises(RunNotFound, match="matches 2 runs"):
        find_run(tmp_path, a.id[:8])
    with pytest.raises(RunNotFound, match="no run matches"):
        find_run(tmp_path, "gamma")
    assert [r.id for r in list_runs(tmp_path)] == sorted([a.id, b.id])


def test_two_runs_with_one_name_in_one_second_do_not_collide(tmp_path: Path) -> None:
    ids = {create_run(tmp_path, "same").id for _ in range(20)}
    assert len(ids) == 20


def test_run_directories_are_not_group_or_world_writable(tmp_path: Path) -> None:
    run = create_run(tmp_path / "root", "x")
    for p in (tmp_path / "root", run.path, run.checkpoint_dir):
        assert p.stat().st_mode & 0o022 == 0


def test_dead_worker_is_lost(tmp_path: Path) -> None:
    run = create_run(tmp_path, "x")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    status = Status(id=run.id, state="running", pid=proc.pid)
    write_status(run.path, status)
    assert effective_state(run.path, status) == "lost"
    alive = Status(id=run.id, state="running", pid=os.getpid())
    assert effective_state(run.path, alive) == "lost", "a live pid that is not proven the run's worker"
    fd = acquire(run.path, run.id)        # this process stands for the worker: it holds the run's lock
    try:
        assert effective_state(run.path, alive) == "running"
    finally:
        release(fd)
    other_host = Status(id=run.id, state="running", pid=1, host="elsewhere", created_at=time.time() - 3600)
    assert effective_state(run.path, other_host) == "lost"   # no heartbeat for an hour
    (run.path / "heartbeat").write_text("now")
    assert effective_state(run.path, other_host) == "running"
    assert effective_state(run.path, status.evolve(state="finished")) == "finished"


def test_status_json_is_plain_json(tmp_path: Path) -> None:
    run = create_run(tmp_path, "x")
    write_status(run.path, Status(id=run.id, state="failed", error="boom"))
    raw = json.loads((run.path / "status.json").read_text())
    assert raw["state"] == "failed" and raw["error"] == "boom" and raw["format"] == 1


@pytest.mark.parametrize(("field", "value", "words"), [
    ("pid", "123", "pid must be an integer or null"), ("step", "7", "step must be an integer"),
    ("world", 1.5, "world must be an integer"), ("created_at", "yesterday", "created_at must be a number"),
    ("state", None, "state must be a string"),
])
def test_wrong_types_in_status_are_one_line(tmp_path: Path, field: str, value: object, words: str) -> None:
    run = create_run(tmp_path, "x")
    write_status(run.path, Status(id=run.id))
    raw = json.loads((run.path / "status.json").read_text())
    (run.path / "status.json").write_text(json.dumps({**raw, field: value}))
    with pytest.raises(StatusError, match=words) as caught:
        read_status(run.path)
    assert len(str(caught.value).splitlines()) == 1


def test_every_state_has_one_row_and_no_module_lists_states_by_hand() -> None:
    import re

    from sslterm.store import states

    assert set(states.TABLE) == set(states.State)
    assert states.ACTIVE == (states.State.STARTING, states.State.RUNNING)
    assert "lost" in states.RESUMABLE and "finished" not in states.RESUMABLE and "lost" not in states.FINAL
    assert states.colour("running") == "green" and states.colour("unreadable") == states.UNKNOWN_COLOUR
    names = "|".join(s.value for s in states.State)
    listing = re.compile(rf"""\(\s*["']({names})["']\s*,\s*["']({names})["']""")   # a tuple of two state names
    root = Path(states.__file__).parents[1]
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "states.py" and listing.search(p.read_text(encoding="utf-8"))]
    assert offenders == [], "run states are listed only in sslterm/store/states.py"


def test_training_time_leaves_out_the_time_a_run_sat_stopped(tmp_path: Path) -> None:
    from sslterm.store.summary import training_seconds

    run = create_run(tmp_path, "x")
    stopped = Status(id=run.id, state="stopped", started_at=1000.0, ended_at=1010.0, trained_s=30.0)
    assert training_seconds(run.path, stopped, "stopped") == 40.0
    running = stopped.evolve(state="running", ended_at=None)
    assert training_seconds(run.path, running, "running", now=1020.0) == 50.0
