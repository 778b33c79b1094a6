"""Finished runs with nothing that changes between machines or days: fixed ids, times, host, pid, records."""

from __future__ import annotations

import json
import math
from pathlib import Path

from sslterm import tomlio
from sslterm.store import Status, write_status

STARTED = 1_748_770_200.0  # 2025-06-01 09:30:00 UTC
STEPS, LOG_EVERY, SNAPSHOT_EVERY, N = 2000, 10, 500, 16


def loss_at(step: int, scale: float) -> float:
    """A decaying loss with a little fixed wobble."""
    return scale * (4.0 / (1.0 + step / 300.0) + 0.6) + 0.05 * math.sin(step / 37.0)


def similarity(step: int) -> list[list[float | None]]:
    """A matrix whose diagonal sharpens with training, with a block of negatives and one missing cell."""
    sharp = min(0.95, 0.3 + step / 2500.0)
    rows: list[list[float | None]] = [
        [sharp if i == j else round(0.15 * math.cos(i + j) - (0.5 if i // 4 == 1 and j // 4 == 3 else 0), 3)
         for j in range(N)] for i in range(N)]
    rows[2][5] = None  # NaN in the worker's output is written as null
    return rows


def write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def frozen_run(root: Path, run_id: str, *, scale: float, temperature: float, probe: float) -> Path:
    """A finished image/infonce run under ``root`` named ``run_id``, evaluated, with snapshots and a log."""
    path = root / run_id
    (path / "checkpoints").mkdir(parents=True)
    cfg = {"name": run_id.split("-")[2], "data": {"modality": "image", "dataset": "shapes"},
           "objective": {"name": "infonce", "temperature": temperature}, "model": {"encoder": "resnet18"},
           "train": {"steps": STEPS, "log_every": LOG_EVERY}}
    (path / "config.toml").write_text(tomlio.dumps(cfg), encoding="utf-8")
    write_status(path, Status(id=run_id, state="finished", pid=4242, host="gpu-node-1", created_at=STARTED - 5,
                              started_at=STARTED, ended_at=STARTED + 754, step=STEPS, total_steps=STEPS,
                              device="cuda:0"))
    metrics: list[dict[str, object]] = []
    for step in range(LOG_EVERY, STEPS + 1, LOG_EVERY):
        rec: dict[str, object] = {"step": step, "t": round(step * 0.37, 2), "time": STARTED + step * 0.37,
                                  "loss": round(loss_at(step, scale), 5), "lr": round(1e-3 * (1 - step / STEPS), 7)}
        if step % 500 == 0:
            rec.update(knn_acc=round(probe * step / STEPS, 4), probe_acc=round(probe * 0.95 * step / STEPS, 4),
                       emb_std=0.09, emb_dim=128, rankme=round(40 + step / 100, 1))
        metrics.append(rec)
    write_jsonl(path / "metrics.jsonl", metrics)
    write_jsonl(path / "snapshots.jsonl", [
        {"step": step, "time": STARTED + step * 0.37, "kind": "similarity", "values": similarity(step)}
        for step in range(SNAPSHOT_EVERY, STEPS + 1, SNAPSHOT_EVERY)])
    (path / "worker.log").write_text("".join(f"step {s:>5} loss {loss_at(s, scale):.4f}\n"
                                             for s in range(1800, STEPS + 1, 20)) + "finished\n", encoding="utf-8")
    evaluation = {"step": STEPS, "train_examples": 2000, "eval_examples": 500,
                  "linear_probe": {"accuracy": probe}, "knn": {"accuracy": round(probe - 0.04, 3)},
                  "raw_linear_probe": {"accuracy": 0.412}, "finetune": {"10%": {"accuracy": round(probe + 0.02, 3)}}}
    (path / "eval.json").write_text(json.dumps(evaluation), encoding="utf-8")
    return path


def frozen_runs(root: Path) -> list[str]:
    """Two finished runs that differ in their temperature; their ids, oldest first."""
    ids = ["250601-093000-simclr-a1b2", "250601-101500-simclr-c3d4"]
    frozen_run(root, ids[0], scale=1.0, temperature=0.1, probe=0.731)
    frozen_run(root, ids[1], scale=0.8, temperature=0.5, probe=0.768)
    return ids


SWEEP_ID = "250602-100000-simclr-5e3a"
SWEEP_PROBES = {0.1: (0.70, 0.72, 0.71), 0.2: (0.78, 0.80, 0.79), 0.5: (0.74, 0.75, None)}
"""The frozen sweep's linear probe per temperature and seed (None: the trial is queued, no run yet)."""


def frozen_sweep(root: Path) -> dict[str, str]:
    """A sweep of objective.temperature over 0.1, 0.2, 0.5 with 3 seeds: t001-t006 done, t007 failed,
    t008 running, t009 queued; its runs (evaluated where done) and its directory. Trial id -> run id."""
    trials, runs = [], {}
    for k, (temperature, seed) in enumerate(((t, s) for t in SWEEP_PROBES for s in range(3)), start=1):
        tid, probe = f"t{k:03d}", SWEEP_PROBES[temperature][seed]
        state = {7: "failed", 8: "running", 9: "queued"}.get(k, "done")
        run_id = f"250602-1{k:02d}000-simclr-5e3a-{tid}-ab{k:02d}"
        trials.append({"id": tid, "name": f"simclr-5e3a-{tid}", "settings": {"objective.temperature": temperature},
                       "seed": seed, "state": state, "run_id": run_id, "slot": None,
                       "error": "worker exited with status 1" if state == "failed" else None, "metric": None})
        if probe is None:
            trials[-1]["run_id"] = None
            continue
        runs[tid] = run_id
        path = frozen_run(root, run_id, scale=1.0 + temperature + 0.05 * seed, temperature=temperature, probe=probe)
        cfg = tomlio.loads((path / "config.toml").read_text(encoding="utf-8"))
        (path / "config.toml").write_text(tomlio.dumps({**cfg, "seed": seed}), encoding="utf-8")
        if state == "failed":
            (path / "eval.json").unlink()
            write_status(path, Status(id=run_id, state="failed", pid=4242, host="gpu-node-1", started_at=STARTED,
                                      ended_at=STARTED + 300, step=800, total_steps=STEPS, error="CUDA out of memory"))
    sweep = root / ".sweeps" / SWEEP_ID
    sweep.mkdir(parents=True)
    spec = {"grid": {"objective.temperature": list(SWEEP_PROBES)}, "random": [], "trials": 1, "seeds": 3}
    (sweep / "spec.json").write_text(json.dumps({"format": 1, "id": SWEEP_ID, "name": "simclr-5e3a",
                                                 "spec": spec, "parallel": 1}), encoding="utf-8")
    (sweep / "trials.json").write_text(json.dumps({"state": "running", "trials": trials}), encoding="utf-8")
    return runs
