"""Start-up: from ``sslterm run`` to the first metric record on disk, on the CPU.

Usage: python benchmarks/startup.py [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import median, write

EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "image-simclr.toml"


def once(root: Path) -> float:
    env = dict(os.environ, SSLTERM_RUNS=str(root))
    t0 = time.time()
    run_id = subprocess.run([sys.executable, "-m", "sslterm", "run", str(EXPERIMENT), "--detach", "--set",
                             "train.log_every=1", "--set", "train.steps=20", "--set", "train.device=cpu"],
                            capture_output=True, text=True, check=True, env=env).stdout.strip()
    metrics = root / run_id / "metrics.jsonl"
    while not (metrics.exists() and metrics.stat().st_size > 0):
        if time.time() - t0 > 120:
            raise RuntimeError("no metric after 120 s")
        time.sleep(0.01)
    elapsed = time.time() - t0
    subprocess.run([sys.executable, "-m", "sslterm", "stop", run_id], capture_output=True, env=env, check=False)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times = [once(Path(tmp)) for _ in range(args.repeats)]
        time.sleep(2)
    write("startup", [{"measure": "sslterm run → first metric on disk (s)", "median": median(times),
                       "min": min(times), "max": max(times), "target": "≤ 5"}])


if __name__ == "__main__":
    main()
