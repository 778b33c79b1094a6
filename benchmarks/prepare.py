"""Image folders at scale: preparation speed against Pillow alone, batches from the cache against memory, flat memory.

Generates an ImageNet-like folder (JPEGs of 96 to 160 px in class folders; nothing downloaded), then
measures: Pillow decoding alone in one process (images/s), ``sslterm data prepare``'s decoding over
every core (images/s, and per core), batches of 256 from the memory-mapped cache through a DataLoader
worker against the same data resident in memory (batches/s, the data path alone), and the largest
anonymous memory of the process and its worker streaming from caches of two sizes; then tokenising
generated text corpora of two sizes (MB/s, peak memory: flat when preparation reads in chunks).

    .venv/bin/python -m benchmarks.prepare --images 100000 --classes 100      # the issue's size
    .venv/bin/python -m benchmarks.prepare --images 2000 --quick              # a smoke run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import write

ROOT = Path(__file__).resolve().parents[1]


def make_folder(root: Path, n: int, classes: int, seed: int = 0) -> None:
    """``n`` JPEGs of random sizes 96..160 px with smooth random content, spread over ``classes`` folders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(n):
        d = root / f"class{i % classes:03d}"
        d.mkdir(parents=True, exist_ok=True)
        w, h = rng.integers(96, 161, 2)
        small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        Image.fromarray(small).resize((int(w), int(h)), Image.Resampling.BILINEAR).save(d / f"{i:07d}.JPEG",
                                                                                       quality=90)


def pillow_alone(files: list[Path], size: int) -> float:
    """Images/s decoding (and resizing) one after another in this process."""
    from sslterm.decoding import decode_image

    start = time.perf_counter()
    for f in files:
        decode_image(f, size)
    return len(files) / (time.perf_counter() - start)


def prepare_rate(folder: Path, size: int, cache: Path) -> tuple[float, dict[str, Any]]:
    os.environ["SSLTERM_DATA_CACHE"] = str(cache)
    from sslterm.data.prepare import prepare_images

    start = time.perf_counter()
    entry, manifest = prepare_images(folder, size)
    seconds = time.perf_counter() - start
    return manifest["counts"]["files"] / seconds, {"entry": str(entry), "seconds": round(seconds, 2)}


STREAM = """
import json, sys, time, torch
from pathlib import Path
from sslterm.data.image_files import load_prepared
from sslterm.data.stream import DeviceBatches, StepSampler, StreamBatches
def anon(pid="self"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
entry, steps = Path(sys.argv[1]), int(sys.argv[2])
data = load_prepared(entry, json.loads((entry / "manifest.json").read_text()))
cpu, shard = torch.device("cpu"), torch.arange(len(data))
out = {}
streamed = StreamBatches(data, shard, StepSampler(len(data), 256, 0, 0, cpu), True, cpu, 1, steps, workers=2)
worker, most = streamed._it._workers[0].pid, [0.0, 0.0]
streamed.get(1)
start = time.perf_counter()
for s in range(2, steps + 1):
    streamed.get(s)
    most = [max(most[0], anon()), max(most[1], anon(worker))]
out["cache_batches_per_s"] = (steps - 1) / (time.perf_counter() - start)
streamed.close()
resident = {"x": data.train["x"].clone()}
data = type(data)(resident, data.eval, data.y_train, data.y_eval, data.classes, data.info)
batches = DeviceBatches(data, shard, StepSampler(len(data), 256, 0, 0, cpu), True)
start = time.perf_counter()
for s in range(2, steps + 1):
    batches.get(s)
out["memory_batches_per_s"] = (steps - 1) / (time.perf_counter() - start)
out["anon_mib_process"], out["anon_mib_worker"] = most
print(json.dumps(out))
"""


def stream(entry: str, steps: int) -> dict[str, float]:
    import json

    out = subprocess.run([sys.executable, "-c", STREAM, entry, str(steps)], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def text_rate(work: Path, megabytes: int) -> dict[str, Any]:
    """Tokenising a generated ``megabytes`` MB text file: MB/s and the peak resident memory of a fresh process."""
    import json

    corpus = work / f"corpus-{megabytes}mb.txt"
    if not corpus.exists():
        rng = np.random.default_rng(0)
        words = np.array(["".join(rng.choice(list("etaoinshrdlu"), rng.integers(2, 9))) for _ in range(5000)])
        with corpus.open("w") as f:
            while f.tell() < megabytes * 1_000_000:
                f.write(" ".join(rng.choice(words, 2000)) + "\n")
    code = ("import json, resource, sys, time; from pathlib import Path; from sslterm.data.tokens import prepare_text; "
            "t = time.perf_counter(); prepare_text(Path(sys.argv[1]), log=False); "
            "print(json.dumps({'s': time.perf_counter() - t, 'peak_mib': resource.getrusage(resource.RUSAGE_SELF)"
            ".ru_maxrss / 1024}))")
    env = {**os.environ, "SSLTERM_DATA_CACHE": str(work / "text-cache")}
    out = subprocess.run([sys.executable, "-c", code, str(corpus)], capture_output=True, text=True, cwd=ROOT,
                         check=True, env=env)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    size = corpus.stat().st_size / 1e6
    return {"text_mb": round(size), "tokenise_mb_per_s": round(size / got["s"], 1), "peak_mib": round(got["peak_mib"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--size", type=int, default=96, help="training resolution")
    ap.add_argument("--steps", type=int, default=200, help="batches of 256 timed per data path")
    ap.add_argument("--text-mb", type=int, default=1000, help="size of the generated text corpus (0: none)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: results are not saved")
    ap.add_argument("--work", type=Path, default=None, help="where the folder and caches go (default: a temp dir)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="sslterm-prepare-bench-"))
    rows = []
    for n in sorted({max(args.images // 10, 200), args.images}):
        folder = work / f"images-{n}"
        if not folder.exists():
            print(f"generating {n:,} JPEGs in {folder}", file=sys.stderr)
            make_folder(folder, n, args.classes)
        files = sorted(folder.rglob("*.JPEG"))
        alone = pillow_alone(files[:500], args.size)
        rate, info = prepare_rate(folder, args.size, work / f"cache-{n}")
        cores = os.cpu_count() or 1
        row = {"images": n, "size": args.size, "pillow_images_per_s": round(alone), "prepare_images_per_s": round(rate),
               "prepare_per_core": round(rate / cores), "prepare_s": info["seconds"]}
        row.update({k: round(v, 1) for k, v in stream(info["entry"], args.steps).items()})
        rows.append(row)
    text = [text_rate(work, mb) for mb in sorted({max(args.text_mb // 10, 1), args.text_mb})] if args.text_mb else []
    if args.quick:
        for r in rows + text:
            print(r)
        return
    write("prepare", rows, {"note": "data path only (no model); anonymous memory, page cache aside", "text": text})


if __name__ == "__main__":
    main()
