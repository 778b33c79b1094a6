"""Image folders at scale: preparation speed against Pillow alone, batches from the cache against memory, flat memory.

Generates an ImageNet-like folder (JPEGs of 96 to 160 px in class folders; nothing downloaded), then
measures: Pillow decoding alone in one process (images/s), ``sslterm data prepare``'s decoding over
every core (images/s, and per core), batches of 256 from the memory-mapped cache through a DataLoader
worker against the same data resident in memory (batches/s, the data path alone), image-simclr's
training steps from the cache against a resident copy (same model, one process, alternating blocks:
medians and the median paired ratio), and the largest anonymous memory of the process and its worker
streaming from caches of two sizes; then tokenising generated text corpora of two sizes (MB/s, peak
memory) and next-token training from each (tokens/s, anonymous memory: flat when the stream is mapped).

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

from benchmarks.common import median, write

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
from sslterm.data.stream import DeviceBatches, Shard, StepSampler, StreamBatches
from benchmarks.prepare import anon_mib as anon
entry, steps = Path(sys.argv[1]), int(sys.argv[2])
data = load_prepared(entry, json.loads((entry / "manifest.json").read_text()))
cpu, shard = torch.device("cpu"), Shard(len(data))
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


def experiment(name: str, data: dict[str, Any], sets: dict[str, dict[str, Any]]) -> Any:
    """The shipped experiment ``name`` reading ``data`` (its built-in dataset replaced), with ``sets`` merged in."""
    from sslterm import config
    from sslterm.overrides import read_toml

    raw = read_toml(ROOT / "experiments" / f"{name}.toml")
    raw["data"] = {"modality": raw["data"]["modality"], **data}
    for section, values in sets.items():
        raw.setdefault(section, {}).update(values)
    return config.build(raw, source=name)


def anon_mib(pid: int | str = "self") -> float:
    """Anonymous resident memory of a process in MiB (what a copy of the data would grow; page cache excluded)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def train_child(folder: str, size: int, batch: int, blocks: int, block: int) -> None:
    """Training steps of image-simclr from the cache (DataLoader workers) and from a resident copy, interleaved.

    One process builds the model once; blocks of ``block`` steps alternate between the two data paths
    (which goes first alternates too), so machine load hits both sides alike. Prints JSON: the median
    seconds per step of each side and the median of the per-block-pair ratios (cache / resident).
    """
    import json

    import torch

    from sslterm.data import Dataset
    from sslterm.data.stream import DeviceBatches, Shard, StepSampler
    from sslterm.train.loop import build, open_batches, train_step

    torch.set_num_threads(1)
    exp = experiment("image-simclr", {"path": folder, "image_size": size, "on_device": "false", "workers": 1},
                     {"train": {"batch_size": batch, "steps": blocks * block + 1, "device": "cpu"},
                      "eval": {"every": 0, "online_probe": False}})
    parts = build(exp)
    streamed = open_batches(parts, exp, 1)
    data = parts.data
    copy = Dataset({k: v.clone() for k, v in data.train.items()}, data.eval, data.y_train, data.y_eval,
                   data.classes, data.info, data.window)
    resident = DeviceBatches(copy, Shard(len(copy)), StepSampler(len(copy), batch, 0, 0, torch.device("cpu")),
                             False)
    train_step(parts, streamed, parts.objective, 1, exp.train)           # worker start-up, first batch
    train_step(parts, resident, parts.objective, 1, exp.train)
    next_stream = 2
    times: dict[str, list[float]] = {"cache": [], "resident": []}

    def timed(side: str) -> float:
        nonlocal next_stream
        start = time.perf_counter()
        for _ in range(block):
            if side == "cache":
                train_step(parts, streamed, parts.objective, next_stream, exp.train)
                next_stream += 1
            else:
                train_step(parts, resident, parts.objective, 2, exp.train)
        per_step = (time.perf_counter() - start) / block
        times[side].append(per_step)
        return per_step

    ratios = []
    for b in range(blocks // 2):
        order = ("cache", "resident") if b % 2 == 0 else ("resident", "cache")
        got = {side: timed(side) for side in order}
        ratios.append(got["cache"] / got["resident"])
    streamed.close()
    print(json.dumps({"cache_s_per_step": median(times["cache"]), "resident_s_per_step": median(times["resident"]),
                      "ratio_cache_over_resident": median(ratios), "pairs": len(ratios)}))


def train_rate(folder: Path, size: int, batch: int, blocks: int, block: int) -> dict[str, float]:
    """Training samples/s from the cache against the same data resident in memory (a fresh process)."""
    import json

    code = ("import sys; from benchmarks.prepare import train_child; "
            "train_child(sys.argv[1], *map(int, sys.argv[2:]))")
    out = subprocess.run([sys.executable, "-c", code, str(folder), str(size), str(batch), str(blocks), str(block)],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return {"train_cache_samples_per_s": batch / got["cache_s_per_step"],
            "train_resident_samples_per_s": batch / got["resident_s_per_step"],
            "train_ratio_cache_over_resident_time": got["ratio_cache_over_resident"], "train_pairs": got["pairs"]}


def text_train_child(corpus: str, steps: int) -> None:
    """Next-token training on a prepared text corpus: tokens/s and the process's peak anonymous memory (JSON)."""
    import json

    import torch

    from sslterm.train.loop import build, open_batches, train_step

    torch.set_num_threads(1)
    exp = experiment("text-next_token", {"path": corpus}, {"train": {"steps": steps + 1, "device": "cpu"},
                                                           "eval": {"every": 0, "online_probe": False}})
    parts = build(exp)
    batches = open_batches(parts, exp, 1)
    train_step(parts, batches, parts.objective, 1, exp.train)
    most, start = anon_mib(), time.perf_counter()
    for step in range(2, steps + 2):
        train_step(parts, batches, parts.objective, step, exp.train)
        most = max(most, anon_mib())
    seconds = time.perf_counter() - start
    tokens = exp.train.batch_size * int(parts.data.window or parts.data.info.get("seq_len", 0))
    print(json.dumps({"tokens_per_s": tokens * steps / seconds, "anon_mib": most}))


def text_train(corpus: Path, steps: int) -> dict[str, float]:
    import json

    code = ("import sys; from benchmarks.prepare import text_train_child; "
            "text_train_child(sys.argv[1], int(sys.argv[2]))")
    out = subprocess.run([sys.executable, "-c", code, str(corpus), str(steps)], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return {"train_tokens_per_s": round(got["tokens_per_s"]), "train_anon_mib": round(got["anon_mib"])}


def make_corpus(work: Path, megabytes: int) -> Path:
    """A generated text file of ``megabytes`` MB (random words, one 2,000-word line each), made once."""
    corpus = work / f"corpus-{megabytes}mb.txt"
    if not corpus.exists():
        rng = np.random.default_rng(0)
        words = np.array(["".join(rng.choice(list("etaoinshrdlu"), rng.integers(2, 9))) for _ in range(5000)])
        part = corpus.with_suffix(".part")
        with part.open("w") as f:
            while f.tell() < megabytes * 1_000_000:
                f.write(" ".join(rng.choice(words, 2000)) + "\n")
        part.rename(corpus)
    return corpus


def text_rate(work: Path, megabytes: int, train_steps: int) -> dict[str, Any]:
    """Tokenising a generated ``megabytes`` MB text file: MB/s and the peak resident memory of a fresh process."""
    import json

    corpus = make_corpus(work, megabytes)
    code = ("import json, resource, sys, time; from pathlib import Path; from sslterm.data.tokens import prepare_text; "
            "t = time.perf_counter(); prepare_text(Path(sys.argv[1]), log=False); "
            "print(json.dumps({'s': time.perf_counter() - t, 'peak_mib': resource.getrusage(resource.RUSAGE_SELF)"
            ".ru_maxrss / 1024}))")
    env = {**os.environ, "SSLTERM_DATA_CACHE": str(work / "text-cache")}
    out = subprocess.run([sys.executable, "-c", code, str(corpus)], capture_output=True, text=True, cwd=ROOT,
                         check=True, env=env)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    size = corpus.stat().st_size / 1e6
    row = {"text_mb": round(size), "tokenise_mb_per_s": round(size / got["s"], 1), "peak_mib": round(got["peak_mib"])}
    os.environ["SSLTERM_DATA_CACHE"] = env["SSLTERM_DATA_CACHE"]
    return {**row, **text_train(corpus, train_steps)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--size", type=int, default=96, help="training resolution")
    ap.add_argument("--steps", type=int, default=200, help="batches of 256 timed per data path")
    ap.add_argument("--batch", type=int, default=128, help="training batch for the cache-against-memory comparison")
    ap.add_argument("--blocks", type=int, default=12, help="alternating blocks of training steps (half per side)")
    ap.add_argument("--block", type=int, default=10, help="training steps per block")
    ap.add_argument("--text-steps", type=int, default=100, help="next-token training steps timed per corpus")
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
        if n == min(max(args.images // 10, 200), args.images):   # the smaller: a resident copy of both must fit
            row.update({k: round(v, 3) for k, v in train_rate(folder, args.size, args.batch, args.blocks,
                                                              args.block).items()})
        rows.append(row)
    text = ([text_rate(work, mb, args.text_steps) for mb in sorted({max(args.text_mb // 10, 1), args.text_mb})]
            if args.text_mb else [])
    if args.quick:
        for r in rows + text:
            print(r)
        return
    write("prepare", rows, {"note": "data path only (no model); anonymous memory, page cache aside", "text": text})


if __name__ == "__main__":
    main()
