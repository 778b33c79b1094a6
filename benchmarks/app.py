"""The app's costs: cold start to first frame, CPU and memory while watching a live run, big redraws.

Cold start runs the real app in a fresh interpreter (headless, 80×24) on a run directory and
reports the time from process launch to its first painted frame. Watching runs the app for
``--watch-seconds`` on a run that a second process keeps writing to as a worker does, only more
often (every 100 ms a metrics record, the status with its step and a log line; a 32×32 snapshot
every second); the writer is the run's pid on this host, so the dashboard samples its CPU and
memory too. It reports the app process's CPU time as a percentage of one core (the median of
``--repeats`` sessions), and its resident memory at the start and the end of the last one.
Usage: python -m benchmarks.app [--watch-seconds S] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from array import array
from pathlib import Path

from benchmarks.common import median, write

CHILD = textwrap.dedent("""
    import asyncio, json, resource, sys, time
    from pathlib import Path
    from sslterm.tui.app import make_app

    root, run_id, seconds = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

    async def main():
        app = make_app(root, run_id)
        out = {}
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            out["first_frame"] = time.time()
            out["torch_loaded"] = "torch" in sys.modules
            if seconds > 0:
                cpu0, rss0 = time.process_time(), rss_mb()
                await asyncio.sleep(seconds)
                out["cpu_percent"] = 100 * (time.process_time() - cpu0) / seconds
                out["rss_start_mb"], out["rss_end_mb"] = rss0, rss_mb()
        print(json.dumps(out))

    asyncio.run(main())
""")

WRITER = textwrap.dedent("""
    import math, os, sys, time
    from pathlib import Path
    from sslterm.store import JsonlWriter, read_status, write_status
    run, seconds = Path(sys.argv[1]), float(sys.argv[2])
    m, s = JsonlWriter(run / "metrics.jsonl"), JsonlWriter(run / "snapshots.jsonl")
    status = read_status(run).evolve(state="running", pid=os.getpid(), started_at=time.time(), device="cpu")
    step, t0, end = status.step, time.time(), time.time() + seconds
    with open(run / "worker.log", "a", encoding="utf-8") as log:
        while time.time() < end:
            step += 10
            loss = 5 * math.exp(-step / 5000) + 0.1
            m.write({"step": step, "t": time.time() - t0, "time": time.time(), "loss": loss})
            status = status.evolve(step=step)
            write_status(run, status, durable=False)
            print(f"step {step} loss {loss:.4f}", file=log, flush=True)
            if step % 100 == 0:
                s.write({"step": step, "time": time.time(), "kind": "similarity",
                         "values": [[round(math.cos(i - j), 3) for j in range(32)] for i in range(32)]})
            time.sleep(0.1)
""")


def make_run(root: Path, records: int) -> str:
    from sslterm.store import JsonlWriter, Status, create_run, write_status

    run = create_run(root, "bench")
    (run.path / "config.toml").write_text('name = "bench"\n')
    write_status(run.path, Status(id=run.id, state="running", pid=None, total_steps=10**7, step=records * 10))
    w = JsonlWriter(run.metrics_path)
    for i in range(records):
        w.write({"step": 10 * i, "t": i / 10, "time": 0.0, "loss": 1 / (1 + i)})
    w.close()
    return run.id


def cold_start(root: Path, run_id: str) -> float:
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), run_id, "0"], capture_output=True, text=True,
                         check=True)
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    assert not rec["torch_loaded"], "the app imported torch"
    return rec["first_frame"] - t0


def watching(root: Path, run_id: str, seconds: float) -> dict[str, float]:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root / run_id), str(seconds + 10)])
    try:
        time.sleep(1.0)  # the writer has put its pid in the status
        out = subprocess.run([sys.executable, "-c", CHILD, str(root), run_id, str(seconds)], capture_output=True,
                             text=True, check=True)
    finally:
        writer.kill()
        writer.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def redraw(points: int) -> float:
    from sslterm.tui.widgets import loss_chart

    # held as the app holds a run's series (sslterm.tui.poller.Column, the smoother's output): arrays
    xs = array("q", range(points))
    ys = array("d", (1 / (1 + i) + (0.5 if i % 9973 == 0 else 0.0) for i in range(points)))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        loss_chart.plot_loss(xs, ys, 60, 16, False)
        times.append(time.perf_counter() - t0)
    return median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--watch-seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=3, help="watching sessions (the median CPU is reported)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_id = make_run(root, 1000)
        starts = [cold_start(root, run_id) for _ in range(5)]
        sessions = [watching(root, run_id, args.watch_seconds) for _ in range(args.repeats)]
    watch = sessions[-1]
    rows = [
        {"measure": "cold start to first frame (s)", "value": median(starts), "target": "≤ 0.5"},
        {"measure": f"CPU while watching a live run ({args.watch_seconds:.0f} s, % of one core)",
         "value": median([w["cpu_percent"] for w in sessions]), "target": "≤ 3"},
        {"measure": "resident memory at start of watching (MB)", "value": watch["rss_start_mb"], "target": ""},
        {"measure": "resident memory at end of watching (MB)", "value": watch["rss_end_mb"], "target": "flat"},
        {"measure": "redraw of a 1,000,000-point curve (ms)", "value": 1e3 * redraw(1_000_000), "target": "≤ 50"},
    ]
    write("app", rows, {"watch_seconds": args.watch_seconds, "repeats": args.repeats})


if __name__ == "__main__":
    main()
