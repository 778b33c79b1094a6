"""sslterm's own processes run the sslterm that started them, whatever folder the user stands in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sslterm.launch import spawn
from sslterm.store import create_run
from sslterm.subproc import PACKAGE_ROOT, child_env, python_module


def test_children_import_this_copy_first_and_never_the_current_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/elsewhere", PACKAGE_ROOT]))
    env = child_env(X="1")
    assert env["PYTHONPATH"].split(os.pathsep) == [PACKAGE_ROOT, "/elsewhere"]
    assert env["PYTHONSAFEPATH"] == "1" and env["X"] == "1"
    assert python_module("sslterm.worker", "RUN") == [sys.executable, "-m", "sslterm.worker", "RUN"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="PYTHONSAFEPATH exists from Python 3.11")
def test_a_worker_started_beside_a_folder_named_sslterm_imports_the_real_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """launch.spawn (the worker, the supervisor) from a folder holding a decoy ``sslterm``: the real one runs."""
    decoy = tmp_path / "here" / "sslterm"                 # an old checkout, or the user's own notes folder
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit('the decoy sslterm was imported')\n")
    monkeypatch.chdir(decoy.parent)
    run = create_run(tmp_path / "runs", "decoy")
    lock = os.open(run.path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        proc = spawn(run, lock, "sslterm.subproc")           # a module that imports sslterm and exits
        assert proc.wait(timeout=60) == 0, run.log_path.read_text()
    finally:
        os.close(lock)
    assert "decoy" not in run.log_path.read_text()


def test_the_preview_server_command_runs_beside_a_decoy(tmp_path: Path) -> None:
    (tmp_path / "sslterm").mkdir()
    (tmp_path / "sslterm" / "__init__.py").write_text("raise SystemExit('decoy')\n")
    done = subprocess.run([*python_module("sslterm.subproc")], cwd=tmp_path, env=child_env(), capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(sys.version_info < (3, 11), reason="PYTHONSAFEPATH exists from Python 3.11")
def test_the_served_app_command_runs_this_copy_from_a_folder_holding_a_decoy(tmp_path: Path) -> None:
    """`sslterm serve` hands its app command to a shell: run there, beside a decoy, it must reach the real sslterm."""
    from sslterm.tui.serve import app_command

    (tmp_path / "sslterm").mkdir()
    (tmp_path / "sslterm" / "__init__.py").write_text("raise SystemExit('decoy')\n")
    command = app_command(tmp_path / "runs", None).replace(" -m sslterm ", " -m sslterm.subproc ", 1)
    assert " -m sslterm.subproc " in command
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    done = subprocess.run(command, shell=True, cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
