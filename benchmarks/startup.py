"""Start-up: from ``sslterm run`` to the first metric record on disk, on the CPU.

Two cases, interleaved: a first run in a fresh runs directory (the dataset is generated), and a
later run in a runs directory that has run the experiment before (the dataset comes from its cache,
``<runs>/.cache/datasets``). Usage: python -m benchmarks.startup [--repeats R]
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
from sslterm.store import read_status
from sslterm.store.states import ACTIVE

EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "image-simclr.toml"


def once(root: Path) -> float:
    """Seconds from starting ``sslterm run`` to a non-empty metrics file (the run is stopped after)."""
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
    while read_status(root / run_id).state in ACTIVE and time.time() - t0 < 120:
        time.sleep(0.05)                                   # let it stop before the next measurement
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cold: list[float] = []
    warm: list[float] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        primed = Path(tmp) / "primed"
        once(primed)                                       # fills primed's dataset cache
        for r in range(args.repeats):
            cold.append(once(Path(tmp) / f"fresh{r}"))
            warm.append(once(primed))
        time.sleep(2)
    rows = [{"measure": f"sslterm run → first metric on disk (s), {label}", "median": median(xs), "min": min(xs),
             "max": max(xs), "target": "≤ 5"}
            for label, xs in (("first run (dataset generated)", cold), ("dataset cached by an earlier run", warm))]
    write("startup", rows, {"load_average_1min": {"before": load_before, "after": os.getloadavg()[0]}})


if __name__ == "__main__":
    main()
