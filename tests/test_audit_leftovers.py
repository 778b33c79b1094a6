"""Issue 13's audit, rerun: the leftovers it found in the fixes (out-of-memory wording, damaged logs in show,
resume --set, long references), each through the function or the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from sslterm import config
from sslterm.store import Run, read_status, write_status
from sslterm.store.jsonl import MAX_RECORD
from sslterm.train.loop import train
from sslterm.worker import describe_failure
from tests.conftest import prepare_run, sslterm, wait_for

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
    assert f"{long_line.name}: metrics.jsonl: a line longer" in listed.stdout
    assert f"{good.name}: warning: data.num_samples 10 is below" in listed.stdout
    as_json = {r["id"]: r for r in json.loads(sslterm("ls", "--json", runs=runs).stdout)}
    assert as_json[as_dir.name]["problem"] and as_json[good.name]["warning"].startswith("data.num_samples")


def test_resume_set_train_steps_trains_on_and_other_keys_are_refused(runs: Path) -> None:
    run_dir = prepare_run(runs, "train.steps=2", "eval.every=0")
    train(config.load(run_dir / "config.toml"), Run(run_dir), lambda: False, lambda s, d: None)
    write_status(run_dir, read_status(run_dir).evolve(state="finished", step=2))
    for bad, says in ((["--set", "model.encoder=vit"], "changes only train.steps, train.epochs; model.encoder stays"),
                      (["--set", "train.steps=abc"], "expected a whole number of steps"),
                      (["--set", "train.steps=4", "--steps", "5"], "but --steps says 5"),
                      (["--set", "train.lr"], "expected table.key=value")):
        proc = sslterm("resume", run_dir.name, *bad, runs=runs)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and says in proc.stderr, (bad, proc.stderr)
    assert read_status(run_dir).state == "finished"
    proc = sslterm("resume", run_dir.name, "--set", "train.steps=4", "-d", runs=runs)
    assert proc.returncode == 0, proc.stderr
    done = wait_for(lambda: s if (s := read_status(run_dir)).state == "finished" and s.step == 4 else None,
                    timeout=120, what=lambda: (run_dir / "worker.log").read_text())
    assert done.total_steps == 4 and "steps = 4" in (run_dir / "config.toml").read_text()


def test_a_reference_longer_than_a_file_name_is_one_line(runs: Path) -> None:
    prepare_run(runs)
    for ref in ("a" * 300, "a/" * 200, "/tmp/" + "b" * 300 + "/x", "", " "):
        for command in ("show", "stop", "resume", "export", "eval", "watch"):
            proc = sslterm(command, ref, runs=runs)
            assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, (command, proc.stderr[-300:])
            assert "Traceback" not in proc.stderr and len(proc.stderr) < 300, proc.stderr
    assert "the run reference is empty" in sslterm("show", "", runs=runs).stderr


def test_the_app_lists_a_run_whose_status_is_unreadable_with_why(runs: Path) -> None:
    from sslterm.tui.scanner import RunsScanner

    good, bad = prepare_run(runs), prepare_run(runs)
    (bad / "status.json").write_text('{"id": "x", "created_at": "yesterday"}')
    rows = {r.id: r for r in RunsScanner(runs).scan()}
    assert set(rows) == {good.name, bad.name}, "as `sslterm ls` does, the app hides no run"
    assert rows[bad.name].state == "unreadable" and "created_at must be a number" in (rows[bad.name].error or "")
    assert rows[good.name].state == "prepared"



def test_ls_at_80_columns_cuts_the_task_then_the_id_never_the_numbers(monkeypatch, capsys) -> None:
    from sslterm.cli_show import print_ls

    monkeypatch.setenv("COLUMNS", "80")
    for name in range(10, 50):  # a table exactly 80 columns wide (a 10-letter name), then ever wider
        rid = f"261204-020308-{'x' * name}-6ada"
        print_ls([{"id": rid, "status": "finished", "modality": "image", "objective": "simclr", "step": 2000,
                   "total_steps": 2000, "steps_per_epoch": 62.5, "summary": {"loss": 0.5123}, "duration_s": 3725}])
        header, row = capsys.readouterr().out.splitlines()
        assert header.split() == ["id", "status", "task", "epoch", "step", "loss", "time"], header
        assert len(row) <= 80, row
        assert row.endswith(" 32.00 2000/2000 0.5123 1h02m"), row  # the numbers are never cut
        task = row.split(" finished ")[1].split()[0]
        assert task == "image/simclr" if name == 10 else task == "image/simclr"[:len(task) - 1] + "…", row
        assert row.startswith(rid + " ") or len(task) == 5, row  # the id gives way only after the task
