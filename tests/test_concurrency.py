"""Concurrency: several viewers on live runs, several runs at once, many runs named alike in one second."""

from __future__ import annotations

import json
import random
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sslterm import config
from sslterm.launch import prepare
from sslterm.store import JsonlTail, JsonlWriter, Run, read_status
from sslterm.store.jsonl import truncate_after
from sslterm.store.states import is_active
from sslterm.tui.poller import RunFeed
from sslterm.tui.scanner import RunsScanner
from tests.conftest import ROOT, TINY, sslterm, tiny_sets, wait_for

STEPS = 150


def test_several_viewers_on_two_live_runs(runs: Path) -> None:
    sets = tiny_sets(f"train.steps={STEPS}", "train.log_every=1", "train.snapshot_every=2", "train.checkpoint_every=25")
    ids = [sslterm("run", *sets, "--set", f"seed={seed}", "-d", runs=runs).stdout.strip() for seed in (1, 2)]
    done, errors = threading.Event(), []
    tails = {run_id: JsonlTail(runs / run_id / "metrics.jsonl") for run_id in ids}
    feeds = {run_id: RunFeed(Run(runs / run_id)) for run_id in ids}
    seen: dict[str, list[int]] = {run_id: [] for run_id in ids}
    fed: dict[str, list[int]] = {run_id: [] for run_id in ids}
    snaps: dict[str, list[int]] = {run_id: [] for run_id in ids}
    scanner = RunsScanner(runs)

    def tail_metrics() -> None:
        for run_id, tail in tails.items():
            for rec in tail.read(max_bytes=2048):                  # small reads: records split across polls
                assert isinstance(rec["step"], int) and isinstance(rec["loss"], float), rec
                seen[run_id].append(rec["step"])

    def poll_feeds() -> None:                                       # the dashboard's reader
        for run_id, feed in feeds.items():
            update = feed.poll()
            assert update.status_error is None and not update.reset, update.status_error
            fed[run_id] += update.metrics.steps
            snaps[run_id] += [s.step for s in update.snapshots]

    def read_statuses() -> None:
        for run_id in ids:
            assert read_status(runs / run_id).id == run_id

    def scan() -> None:                                             # the app's runs list
        assert {row.id for row in scanner.scan()} == set(ids)

    def command_line() -> None:                                     # other terminals
        for args in (("ls", "--json"), ("show", ids[0], "--json")):
            proc = sslterm(*args, runs=runs)
            assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr

    def viewer(read: Callable[[], None], pause: float) -> None:
        try:
            while not done.is_set():
                read()
                time.sleep(pause)
            read()
        except BaseException as e:  # reported by the test below
            errors.append(e)

    threads = [threading.Thread(target=viewer, args=(fn, pause)) for fn, pause in
               ((tail_metrics, 0.01), (poll_feeds, 0.05), (read_statuses, 0.01), (scan, 0.05), (command_line, 0.1))]
    for t in threads:
        t.start()
    wait_for(lambda: errors or not any(is_active(read_status(runs / run_id).state) for run_id in ids),
             timeout=180, what="both runs to end")
    done.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for run_id in ids:
        assert read_status(runs / run_id).state == "finished"
        assert seen[run_id] == fed[run_id] == list(range(1, STEPS + 1)), "every record once, whole, in order"
        assert tails[run_id].bad == 0
        assert snaps[run_id] == list(range(0, STEPS + 1, 2))
    first, second = (Run(runs / run_id).metrics() for run_id in ids)
    assert [r["loss"] for r in first] != [r["loss"] for r in second], "each run wrote only its own log"


def test_a_viewer_follows_a_log_cut_back_by_resume(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    writer = JsonlWriter(path)
    for step in range(1, 9):
        writer.write({"step": step, "loss": 1.0})
    tail = JsonlTail(path)
    assert [r["step"] for r in tail.read()] == list(range(1, 9))
    truncate_after(path, 4)                                         # a resume from the step-4 checkpoint
    for step in range(5, 13):
        writer.write({"step": step, "loss": 0.123456789})           # grows past the reader's offset at once
    writer.close()
    again = tail.read_all()
    assert [r["step"] for r in again] == list(range(1, 13)) and tail.bad == 0, "started over, never mid-line"


def _frozen_prepare(root: Path, count: int) -> list[str]:
    exp = config.from_overrides([*TINY, "name=same"])
    return [prepare(exp, root).id for _ in range(count)]


CREATOR = """
import random, sys, time
from pathlib import Path
time.strftime = lambda *_: "990101-000000"                       # a frozen clock: every run in one second
import secrets
secrets.token_hex = lambda _n: f"{random.randrange(256):04x}"       # and few suffixes: collisions all but certain
from tests.test_concurrency import _frozen_prepare
print("\\n".join(_frozen_prepare(Path(sys.argv[1]), int(sys.argv[2]))))
"""


def test_many_runs_with_one_name_in_one_second(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", CREATOR, str(runs), "12"], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True) for _ in range(3)]
    monkeypatch.setattr(time, "strftime", lambda *_: "990101-000000")
    monkeypatch.setattr(secrets, "token_hex", lambda _n: f"{random.randrange(256):04x}")
    with ThreadPoolExecutor(6) as pool:
        made = [run_id for ids in pool.map(lambda _: _frozen_prepare(runs, 4), range(6)) for run_id in ids]
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        made += out.split()
    assert len(made) == len(set(made)) == 6 * 4 + 3 * 12
    assert sorted(p.name for p in runs.iterdir() if not p.name.startswith(".")) == sorted(made)
    for run_id in made:                                             # nothing written into another's directory
        assert json.loads((runs / run_id / "status.json").read_text())["id"] == run_id
        assert f"run {run_id}\n" in (runs / run_id / "config.toml").read_text()
