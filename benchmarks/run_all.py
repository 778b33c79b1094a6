"""Run every benchmark, print each table and write benchmarks/results/*.json.

Usage (from the repository root): .venv/bin/python -m benchmarks.run_all [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

QUICK = {"trainer": ["--steps", "30", "--repeats", "2"], "app": ["--watch-seconds", "10"],
         "startup": ["--repeats", "2"], "scaling": ["--steps", "5", "--batches", "32,128", "--widths", "8,16"],
         "switches": ["--steps", "5", "--repeats", "1", "--only", "precision,channels_last,fused_adamw"],
         "throughput": ["--batch", "32", "--steps", "1"]}
FULL = {"trainer": ["--steps", "100", "--repeats", "9"], "app": ["--watch-seconds", "60"],
        "startup": ["--repeats", "3"], "scaling": [], "switches": [], "throughput": []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke test)")
    args = ap.parse_args()
    failed = []
    for name, extra in (QUICK if args.quick else FULL).items():
        print(f"\n## {name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *extra], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
