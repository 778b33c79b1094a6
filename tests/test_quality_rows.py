"""benchmarks/quality: each row says when, at which commit and on which machine it was measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import quality
from benchmarks.common import described, git_revision


def test_a_row_measured_now_is_stamped_and_kept_rows_keep_their_machine(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    saved = {"machine": {"date": "2026-11-25T10:00:00+00:00", "cpu": "AMD EPYC", "cores": 2, "torch": "2.13.0+cpu"},
             "revision": "abc1234",
             "rows": [{"experiment": "a-old", "raw": 0.1, "untrained": 0.1, "linear": 0.5},
                      {"experiment": "b-new", "raw": 0.1, "untrained": 0.1, "linear": 0.1},
                      {"experiment": "c-old", "measured": "2026-11-20", "measured_on": "Elsewhere, 8 cores",
                       "revision": "0000000", "raw": 0.1, "untrained": 0.1, "linear": 0.5}]}
    (tmp_path / "quality.json").write_text(json.dumps(saved))
    monkeypatch.setattr(quality, "RESULTS", tmp_path)
    rows = {r["experiment"]: r for r in quality.merged([{"experiment": "b-new", "linear": 0.4}], "f00d123")}
    assert list(rows) == ["a-old", "b-new", "c-old"]
    new = rows["b-new"]
    assert new["linear"] == 0.4 and new["revision"] == "f00d123" and new["measured_on"] == described(
        quality.machine())
    old = rows["a-old"]
    assert old["measured"] == "2026-11-25" and old["measured_on"] == "AMD EPYC, 2 cores, torch 2.13.0+cpu"
    assert "revision" not in rows["a-old"]                       # which commit measured it is not known
    assert rows["c-old"]["measured_on"] == "Elsewhere, 8 cores" and rows["c-old"]["revision"] == "0000000"
    assert rows["a-old"]["passes"] and not rows["c-old"].get("error")


def test_a_failed_row_keeps_the_saved_numbers_and_a_filled_row_keeps_its_provenance(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = {"machine": {"date": "2026-11-25T10:00:00+00:00", "cpu": "AMD EPYC", "cores": 2, "torch": "2.13.0+cpu"},
             "rows": [{"experiment": "b", "raw": 0.1, "untrained": 0.1, "linear": 0.5, "revision": "0000000"}]}
    (tmp_path / "quality.json").write_text(json.dumps(saved))
    monkeypatch.setattr(quality, "RESULTS", tmp_path)
    (row,) = quality.merged([{"experiment": "b", "error": "RuntimeError: boom"}], "f00d123")
    assert row["linear"] == 0.5 and row["revision"] == "0000000" and row["last_error"] == "RuntimeError: boom"
    filled = {"experiment": "b", "raw": 0.1, "untrained": 0.2, "linear": 0.5, "measured": "2026-11-25"}
    (row,) = quality.merged([filled], "f00d123", measured_now=False)
    assert row["untrained"] == 0.2 and "revision" not in row and row["measured_on"].startswith("AMD EPYC")
    kept = quality.kept_columns("b")
    assert kept["kept_from"] == "2026-11-25" and kept["kept_revision"] == "0000000"
    assert kept["kept_measured_on"].startswith("AMD EPYC")


def test_the_revision_says_dirty_when_tracked_files_differ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "f.txt").write_text("one\n")
    git("add", "f.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.chdir(tmp_path)
    clean = git_revision()
    (tmp_path / "untracked.txt").write_text("not part of the tree\n")
    assert git_revision() == clean and "-" not in clean
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "r.json").write_text("{}\n")
    git("add", "benchmarks")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "results")
    clean = git_revision()
    (tmp_path / "benchmarks" / "results" / "r.json").write_text('{"rows": []}\n')
    assert git_revision() == clean, "saved results are what a run writes, not what it measures"
    (tmp_path / "f.txt").write_text("two\n")
    assert git_revision() == clean + "-dirty"
