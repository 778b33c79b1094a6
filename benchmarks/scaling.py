"""Scaling: time per step and peak memory against batch size and encoder width (SimCLR on shapes).

Each configuration runs in a fresh process so its peak memory (CUDA: max allocated; CPU: peak
resident set) is its own. Usage: python benchmarks/scaling.py [--device auto] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

from benchmarks.common import write

CHILD = textwrap.dedent("""
    import json, resource, sys
    import torch
    from benchmarks.trainer import EXPERIMENT, plain_loop
    from sslterm import config
    batch, width, steps, device = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    exp = config.load(EXPERIMENT, [f"train.batch_size={batch}", f"model.width={width}", f"train.device={device}",
                                   f"train.steps={steps + 5}", "eval.every=0"])
    sec = plain_loop(exp, steps, warmup=5)
    if torch.cuda.is_available() and device != "cpu":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ms_per_step": 1e3 * sec, "samples_per_s": batch / sec, "peak_mb": peak}))
""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batches", default="32,128,512")
    ap.add_argument("--widths", default="8,16,32")
    args = ap.parse_args()
    rows = []
    for width in map(int, args.widths.split(",")):
        for batch in map(int, args.batches.split(",")):
            out = subprocess.run([sys.executable, "-c", CHILD, str(batch), str(width), str(args.steps), args.device],
                                 capture_output=True, text=True, check=True)
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"width": width, "batch": batch, **rec})
    write("scaling", rows, {"steps": args.steps, "device": args.device})


if __name__ == "__main__":
    main()
