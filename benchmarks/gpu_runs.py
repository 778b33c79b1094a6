"""Shipped experiments on a GPU end to end: one per modality through the CLI, torchrun with NCCL, the system line.

Each experiment is started as a user starts it (``python -m sslterm run FILE --set train.steps=N
--set train.device=cuda --detach``: a detached worker process) and followed through its run
directory until it ends. A row passes when the run finishes, its status names the CUDA device,
and the loss falls (the mean of the last three logged losses below the mean of the first three).
While the first run trains, the dashboard's own sampler (``sslterm.tui.sysinfo.SystemSampler``)
reads the worker's GPU, and the dashboard's system line (``system_text``) is rendered from it.
Then the documented torchrun path: ``sslterm run --prepare`` and ``torchrun --standalone
--nproc-per-node=1 -m sslterm.worker RUN``, which joins an NCCL process group (DDP, gathers)
on one GPU. Exits 1 when any check fails. Usage: python -m benchmarks.gpu_runs [--steps 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from benchmarks.common import write
from sslterm.store import Run, find_run
from sslterm.store.states import is_final

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ("image-simclr", "text-next_token", "audio-vicreg", "video-temporal_order", "graph-infonce")
DEVICE = "cuda"  # --device cpu tries the script on a machine without a GPU (gloo instead of NCCL)
TIMEOUT = 240.0  # seconds a run may take before it counts as hung (start-up, CUDA init and 200 steps)


def sslterm(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m sslterm ARGS`` from this tree, as a user's shell would run it."""
    return subprocess.run([sys.executable, "-m", "sslterm", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False, timeout=120)


def follow(run: Run) -> float:
    """Wait for ``run`` to end; the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < TIMEOUT and not is_final(run.status().state):
        time.sleep(0.2)
    return time.monotonic() - t0


def system_line(runs: Path, seconds: float = 12.0) -> dict[str, Any]:
    """The dashboard's reading of a training worker's GPU, then ``sslterm stop`` on it (a CUDA run stops cleanly).

    A long image-simclr run trains; once it is past step 20 the dashboard's sampler reads the worker
    every half second for ``seconds`` (it asks the GPU at most every 5 s, as on the dashboard), and
    the busiest reading is kept with the line the dashboard would draw from it.
    """
    from sslterm.tui.sysinfo import SystemSampler

    run = start(runs, "image-simclr", 1_000_000)
    sampler, seen = SystemSampler(), cast("dict[str, Any] | None", None)
    t0 = time.monotonic()
    while time.monotonic() - t0 < TIMEOUT and run.status().step <= 20 and not is_final(run.status().state):
        time.sleep(0.2)
    t1 = time.monotonic()
    while time.monotonic() - t1 < seconds and not is_final((status := run.status()).state) and status.pid:
        reading = sampler.sample(status.pid, status.device)
        gpu = reading.gpu
        if seen is None or (gpu is not None and gpu.util_pct >= float(seen["gpu_util_pct"] or 0)):
            seen = {"gpu_index": gpu and gpu.index, "gpu_util_pct": gpu and gpu.util_pct,
                    "gpu_used_mib": gpu and gpu.used_mib, "gpu_total_mib": gpu and gpu.total_mib,
                    "worker_gpu_mib": gpu and gpu.proc_mib, "cpu_pct": reading.cpu_pct,
                    "line": _line(reading, status.pid)}
        time.sleep(0.5)
    stop = sslterm("stop", run.id, "--runs-dir", str(runs))
    waited = follow(run)
    status = run.status()
    gpu_ok = seen is not None and (seen["gpu_index"] is not None or DEVICE == "cpu")
    return {"reading": seen, "stop_exit": stop.returncode, "stopped_in_s": waited, "state": str(status.state),
            "step": status.step, "checkpoint": run.has_checkpoint(),
            "pass": bool(gpu_ok and status.state == "stopped"
                         and run.has_checkpoint())}


def _line(reading: Any, pid: int) -> str:
    try:
        from sslterm.tui.widgets.system_line import system_text
    except ImportError:  # textual is not installed: the reading is still the dashboard's
        return ""
    return system_text(reading, pid).plain


def losses(run: Run) -> list[float]:
    return [float(m["loss"]) for m in run.metrics() if "loss" in m and m.get("loss") is not None]


def row(name: str, run: Run, seconds: float) -> dict[str, Any]:
    """What one run did, and whether it passes."""
    status = run.status()
    loss = losses(run)
    first = sum(loss[:3]) / max(1, len(loss[:3])) if loss else float("nan")
    last = sum(loss[-3:]) / max(1, len(loss[-3:])) if loss else float("nan")
    ok = status.state == "finished" and (status.device or "").startswith(DEVICE) and len(loss) >= 6 and last < first
    return {"experiment": name, "state": str(status.state), "device": status.device, "steps": status.step,
            "first_loss": first, "last_loss": last, "wall_s": seconds, "world": status.world,
            "error": status.error, "pass": ok}


def start(runs: Path, file: str, steps: int, *extra: str) -> Run:
    done = sslterm("run", str(ROOT / "experiments" / f"{file}.toml"), "--runs-dir", str(runs), "--detach",
                   "--set", f"train.steps={steps}", "--set", f"train.device={DEVICE}", *extra)
    if done.returncode != 0:
        raise RuntimeError(f"sslterm run {file}: {done.stderr.strip() or done.stdout.strip()}")
    return find_run(runs, done.stdout.strip().split()[-1])


def torchrun(runs: Path, steps: int) -> dict[str, Any]:
    """The documented torchrun path on one GPU: ``--prepare``, then torchrun starts the worker (NCCL)."""
    done = sslterm("run", str(ROOT / "experiments" / "image-simclr.toml"), "--runs-dir", str(runs), "--prepare",
                   "--set", f"train.steps={steps}", "--set", f"train.device={DEVICE}")
    if done.returncode != 0:
        return {"experiment": "torchrun image-simclr", "pass": False, "error": done.stderr.strip()}
    path = Path(done.stdout.strip().splitlines()[-1])
    t0 = time.monotonic()
    job = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1",
                          "-m", "sslterm.worker", str(path)], capture_output=True, text=True, timeout=TIMEOUT,
                         check=False, env={**os.environ, "NCCL_DEBUG": "INFO"})
    out = row("torchrun --nproc-per-node=1 image-simclr", Run(path), time.monotonic() - t0)
    log = "\n".join(Run(path).log_tail(400)) + job.stdout + job.stderr
    out["nccl"] = "NCCL INFO" in log if DEVICE == "cuda" else None
    out["torchrun_exit"] = job.returncode
    out["pass"] = bool(out["pass"] and job.returncode == 0 and out["nccl"] is not False)
    if not out["pass"]:
        print(log[-4000:], file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--only", default="", help="comma-separated experiments (default: one per modality)")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        for name in [n for n in args.only.split(",") if n] or EXPERIMENTS:
            try:
                run = start(runs, name, args.steps)
            except RuntimeError as e:
                rows.append({"experiment": name, "pass": False, "error": str(e)})
                continue
            rows.append(row(name, run, follow(run)))
            if not rows[-1]["pass"]:
                print("\n".join(run.log_tail(60)), file=sys.stderr)
        rows.append(torchrun(runs, args.steps))
        system = system_line(runs)
    write("gpu_runs", rows, {"steps": args.steps, "system_line": system})
    print(json.dumps(system, indent=1))
    sys.exit(0 if all(r["pass"] for r in rows) and system["pass"] else 1)


if __name__ == "__main__":
    main()
