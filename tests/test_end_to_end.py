"""End to end through the real command line: a detached CPU worker trains, the CLI reads it back."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from sslterm.cli_eval import parse_percentages
from sslterm.cli_show import print_evaluation
from sslterm.store import find_run
from tests.conftest import EXPERIMENTS, sslterm, tiny_sets, wait_for


def show(runs: Path, run_id: str) -> dict:
    return json.loads(sslterm("show", run_id, "--json", runs=runs).stdout)


def wait_state(runs: Path, run_id: str, states: tuple[str, ...], timeout: float = 90) -> dict:
    return wait_for(lambda: rec if (rec := show(runs, run_id))["status"] in states else None, timeout=timeout,
                    what=f"run {run_id} to reach {states}")


def test_detached_run_trains_and_is_read_back(runs: Path) -> None:
    proc = sslterm("run", str(EXPERIMENTS / "image-simclr.toml"), *tiny_sets(), "--detach", runs=runs)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    assert run_id and "\n" not in run_id

    rec = wait_state(runs, run_id[:15], ("finished", "failed", "lost"))
    assert rec["status"] == "finished", rec.get("error")
    assert rec["id"] == run_id and rec["step"] == 6 and rec["host"] and isinstance(rec["pid"], int)
    assert rec["config"]["train"]["steps"] == 6 and rec["config"]["objective"]["name"] == "infonce"
    assert isinstance(rec["summary"]["loss"], float)

    run = find_run(runs, run_id)
    assert (run.path / "config.toml").read_text().startswith("# Resolved configuration")
    assert (run.checkpoint_dir / "last.pt").is_file()
    snaps = [json.loads(line) for line in run.snapshots_path.read_text().splitlines()]
    assert [s["step"] for s in snaps] == [0, 3, 6] and len(snaps[-1]["values"]) == 8

    out = sslterm("export", run_id, runs=runs).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    assert "loss" in rows[0] and float(rows[-1]["loss"]) > 0
    jl = sslterm("export", run_id, "--format", "jsonl", runs=runs).stdout.splitlines()
    assert [json.loads(line)["step"] for line in jl] == [2, 4, 6]

    listing = json.loads(sslterm("ls", "--json", runs=runs).stdout)
    assert [r["id"] for r in listing] == [run_id] and listing[0]["status"] == "finished"
    assert run_id in sslterm("ls", runs=runs).stdout


def test_attached_run_reports_exit_status(runs: Path) -> None:
    proc = sslterm("run", *tiny_sets("train.steps=2"), runs=runs)
    assert proc.returncode == 0, proc.stderr
    assert "finished" in proc.stderr


def test_stop_ends_a_run_cleanly_with_a_checkpoint(runs: Path) -> None:
    proc = sslterm("run", *tiny_sets("train.steps=100000", "train.log_every=1"), "-d", runs=runs)
    run_id = proc.stdout.strip()
    wait_for(lambda: show(runs, run_id)["step"] >= 2, what="step 2")
    stop = sslterm("stop", run_id, runs=runs)
    assert stop.returncode == 0, stop.stderr
    rec = wait_state(runs, run_id, ("stopped", "failed", "lost", "finished"))
    assert rec["status"] == "stopped" and 2 <= rec["step"] < 100000
    assert (find_run(runs, run_id).checkpoint_dir / "last.pt").is_file()
    again = sslterm("stop", run_id, runs=runs)
    assert again.returncode == 1 and "stopped, not running" in again.stderr


def test_failed_run_records_its_error(runs: Path) -> None:
    proc = sslterm("run", *tiny_sets("train.device=cuda"), runs=runs)
    assert proc.returncode == 1
    rec = json.loads(sslterm("show", "image-infonce", "--json", runs=runs).stdout)
    assert rec["status"] == "failed" and "CUDA" in rec["error"]


def test_unknown_run_is_a_clear_error(runs: Path) -> None:
    proc = sslterm("show", "nothing-like-this", runs=runs)
    assert proc.returncode == 2 and "no run matches" in proc.stderr and "Traceback" not in proc.stderr
    proc = sslterm("export", "x", "--format", "xml", runs=runs)
    assert proc.returncode == 2 and "csv or jsonl" in proc.stderr


def test_catalog_command_lists_everything(runs: Path) -> None:
    data = json.loads(sslterm("catalog", "--json", runs=runs).stdout)
    assert {o["name"] for o in data["objectives"]} >= {"infonce"}
    assert data["compatibility"]["image"]


def test_eval_measures_transfer_and_show_carries_it(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = sslterm("run", *tiny_sets(), "-d", runs=runs).stdout.strip()
    assert wait_state(runs, run_id, ("finished", "failed", "lost"))["status"] == "finished"
    proc = sslterm("eval", run_id, "--json", "--epochs", "1", "--baselines", runs=runs, timeout=600)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    accuracies = [record["linear_probe"]["accuracy"], record["knn"]["accuracy"],
                  record["raw_linear_probe"]["accuracy"], *(v["accuracy"] for v in record["finetune"].values()),
                  record["supervised"]["accuracy"], record["random_init_linear_probe"]["accuracy"]]
    assert all(0.0 <= a <= 1.0 for a in accuracies) and set(record["finetune"]) == {"1%", "10%", "100%"}
    shown = json.loads(sslterm("show", run_id, "--json", runs=runs).stdout)
    assert shown["eval"]["linear_probe"] == record["linear_probe"] and shown["eval"] == record
    # the text form, and --finetune none, in-process: a second evaluation would fit every probe again
    assert parse_percentages("none") == ()
    print_evaluation(run_id, {k: v for k, v in record.items() if k != "finetune"})
    out = capsys.readouterr().out
    assert "supervised from scratch" in out and "untrained encoder" in out and "fine-tune" not in out
    columns = {line.rindex(" ") for line in out.splitlines()[1:]}
    assert len(columns) == 1, f"the accuracies line up in one column:\n{out}"


@pytest.mark.parametrize("given", ["0", "150", "ten", "1,,10"])
def test_eval_refuses_bad_label_percentages(runs: Path, given: str) -> None:
    proc = sslterm("eval", "whatever", "--finetune", given, runs=runs)
    assert proc.returncode == 2 and "--finetune: got" in proc.stderr and "Traceback" not in proc.stderr


def test_exported_encoder_loads_with_the_documented_loader(runs: Path, tmp_path: Path) -> None:
    import torch

    from sslterm.evaluate.transfer import restore
    from sslterm.models import load_encoder

    assert sslterm("run", *tiny_sets("train.steps=2"), runs=runs).returncode == 0
    run = find_run(runs, "image-infonce")
    out = tmp_path / "enc.pt"
    proc = sslterm("export", run.id, "--encoder", str(out), runs=runs)
    assert proc.returncode == 0, proc.stderr
    encoder = load_encoder(out).eval()
    _, data, objective, _ = restore(run, torch.device("cpu"))
    batch = data.batch("eval", torch.arange(4))
    assert torch.allclose(encoder(**batch), objective.eval().features(batch), atol=1e-6)


def test_every_command_takes_runs_dir_before_or_after_it(runs: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"                                  # $SSLTERM_RUNS (runs) is not the root asked for
    proc = sslterm("--runs-dir", str(other), "run", "--prepare", *tiny_sets(), runs=runs)
    assert proc.returncode == 0 and Path(proc.stdout.strip()).parent == other, proc.stderr
    run_id = Path(proc.stdout.strip()).name
    for args in (("--runs-dir", str(other), "ls", "--json"), ("ls", "--json", "--runs-dir", str(other))):
        listing = sslterm(*args, runs=runs)
        assert [r["id"] for r in json.loads(listing.stdout)] == [run_id], (args, listing.stderr)
    assert sslterm("--runs-dir", str(other), "show", run_id, runs=runs).returncode == 0
    assert not runs.exists() or not list(runs.iterdir())


def test_version(runs: Path) -> None:
    from sslterm import __version__

    proc = sslterm("--version", runs=runs)
    assert proc.returncode == 0 and proc.stdout.strip() == f"sslterm {__version__}"


def test_export_to_a_missing_directory_or_a_directory_is_one_line(runs: Path, tmp_path: Path) -> None:
    proc = sslterm("run", "--prepare", *tiny_sets(), runs=runs)
    run_id = Path(proc.stdout.strip()).name
    for args, words in ((("--encoder", str(tmp_path / "missing" / "enc.pt")), "does not exist"),
                        (("-o", str(tmp_path / "missing" / "m.csv")), "does not exist"),
                        (("-o", str(tmp_path)), "is a directory")):
        proc = sslterm("export", run_id, *args, runs=runs)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], (args, proc.stderr)


def test_closing_run_watch_says_where_the_run_stands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished run is not said to keep training in the background; a running one is."""
    from sslterm.cli import after_the_app
    from sslterm.store import Run
    from tests.frozen_runs import frozen_runs

    ids = frozen_runs(tmp_path / "runs")
    finished = Run(tmp_path / "runs" / ids[0])
    assert after_the_app(finished) == f"{ids[0]} finished; `sslterm show {ids[0]}` for its summary"
    monkeypatch.setattr(Run, "state", lambda self: "running")     # a live worker's state, as effective_state gives it
    assert after_the_app(finished) == f"{ids[0]} keeps training in the background; `sslterm watch {ids[0]}` to return"
