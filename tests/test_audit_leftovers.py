"""Issue 13's audit, rerun: the leftovers it found in the fixes (out-of-memory wording, damaged logs in show,
resume --set, long references), each through the function or the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from sslterm import config
from sslterm.store import read_status, write_status
from sslterm.store.jsonl import MAX_RECORD
from sslterm.worker import describe_failure
from tests.conftest import prepare_run, sslterm

CPU_OOM = ("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried to "
           "allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)")


def test_cpu_allocator_out_of_memory_names_the_size_to_lower() -> None:
    exp = config.Experiment()
    msg = describe_failure(RuntimeError(CPU_OOM), 64, data=exp.data)
    assert "enforce fail" not in msg and "alloc_cpu.cpp" not in msg, msg
    assert "DefaultCPUAllocator: not enough memory" in msg and ("train.batch_size" in msg or "data." in msg), msg
    assert "\n" not in msg


def test_a_memory_error_and_a_multi_line_error_are_one_line() -> None:
    assert "try --set train.batch_size=32" in describe_failure(MemoryError(), 64, data=config.Experiment().data)
    assert describe_failure(RuntimeError("first\nsecond\nPlease file an issue"), 8) == "RuntimeError: first"


def test_show_and_ls_say_why_metrics_are_missing_and_the_status_warning(runs: Path) -> None:
    good = prepare_run(runs)
    (good / "metrics.jsonl").write_text('{"step": 1, "loss": 2.5}\n')
    write_status(good, read_status(good).evolve(warning="data.num_samples 10 is below train.batch_size 16"))
    as_dir = prepare_run(runs)
    (as_dir / "metrics.jsonl").mkdir()
    long_line = prepare_run(runs)
    (long_line / "metrics.jsonl").write_bytes(b'{"step": 1, "x": "' + b"x" * (MAX_RECORD + 10) + b'"}\n'
                                             + b'{"step": 2, "loss": 1.5}\n')
    shown = sslterm("show", as_dir.name, runs=runs)
    assert shown.returncode == 0 and "problem: metrics.jsonl is a directory, not a log file" in shown.stdout
    shown = sslterm("show", long_line.name, runs=runs)
    assert "problem: metrics.jsonl: a line longer than 8 MB was skipped" in shown.stdout, shown.stdout
    assert "loss             1.5" in shown.stdout
    shown = sslterm("show", good.name, runs=runs)
    assert "warning: data.num_samples 10 is below" in shown.stdout and "problem" not in shown.stdout
    listed = sslterm("ls", runs=runs)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert f"{as_dir.name}: metrics.jsonl is a directory" in listed.stdout
    assert f"{long_line.name}: metrics.jsonl: a line longer" in listed.stdout and f"{good.name}:" not in listed.stdout
    as_json = {r["id"]: r for r in json.loads(sslterm("ls", "--json", runs=runs).stdout)}
    assert as_json[as_dir.name]["problem"] and as_json[good.name]["warning"].startswith("data.num_samples")
