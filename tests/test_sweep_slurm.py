"""SLURM dry run: one sbatch script per trial in the sweep directory, checked against a reviewed golden file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import TINY, sslterm

from sslterm.sweep import store as ss

GOLDEN = Path(__file__).parent / "golden" / "sweep-t001.sbatch"


def _sweep(tmp_path: Path, runs: Path, *options: str) -> ss.Sweep:
    exp = tmp_path / "exp.toml"
    exp.write_text('name = "tiny"\n', encoding="utf-8")
    sets = [a for kv in (*TINY, "train.steps=2") for a in ("--set", kv)]
    proc = sslterm("sweep", str(exp), *sets, "--grid", "train.lr=0.001,0.002", "--seeds", "2", "--slurm",
                   "--dry-run", *options, runs=runs)
    assert proc.returncode == 0, proc.stderr
    return ss.list_sweeps(runs)[0]


def _normalised(sweep: ss.Sweep, runs: Path, text: str) -> str:
    name = sweep.trials()["trials"][0]["name"].rsplit("-", 1)[0]
    return (text.replace(str(sweep.path), "<SWEEP_DIR>").replace(str(runs.resolve()), "<RUNS>")
            .replace(sweep.id, "<SWEEP>").replace(name, "<NAME>"))


def test_dry_run_writes_one_script_per_trial_matching_the_golden_file(tmp_path: Path, runs: Path) -> None:
    sweep = _sweep(tmp_path, runs, "--partition", "gpu", "--time", "1-00:00:00", "--gpus", "2", "--nproc", "2")
    scripts = sorted((sweep.path / "slurm").glob("*.sbatch"))
    assert [p.name for p in scripts] == [f"t00{i}.sbatch" for i in range(1, 5)]
    got = _normalised(sweep, runs, scripts[0].read_text())
    if os.environ.get("SSLTERM_UPDATE_GOLDEN"):
        GOLDEN.write_text(got, encoding="utf-8")
    assert got == GOLDEN.read_text(encoding="utf-8")
    assert not [r for r in runs.iterdir() if r.name != ss.SWEEPS]        # a dry run starts no run


def test_bad_slurm_options_are_refused_before_anything_is_written(tmp_path: Path, runs: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('name = "tiny"\n', encoding="utf-8")
    for bad, word in ((("--time", "4h"), "--time"), (("--nproc", "4", "--gpus", "2"), "--nproc 4")):
        proc = sslterm("sweep", str(exp), "--seeds", "2", "--slurm", "--dry-run", *bad, runs=runs)
        assert proc.returncode == 2 and proc.stderr.startswith(f"sslterm: error: {word}"), proc.stderr
    assert not runs.exists()


def test_a_one_process_script_trains_its_trial_when_run_by_hand(tmp_path: Path, runs: Path) -> None:
    sweep = _sweep(tmp_path, runs, "--gpus", "0")
    script = sweep.path / "slurm" / "t002.sbatch"
    env = dict(os.environ, SSLTERM_PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=180,
                          cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stderr
    run_dir = Path((sweep.path / "slurm" / "t002.run").read_text().strip())
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "finished"
    assert sweep.trials()["trials"][1]["name"] in run_dir.name
