"""Throughput at GPU scale: SimCLR with a ResNet-18-sized encoder on 32×32 images, batch 512.

The encoder is sslterm's ``cnn`` in ResNet-18's CIFAR layout (a 3×3 stem of 64 channels at stride 1,
four stages of two basic blocks, 64/128/256/512 channels: 11.2M parameters), the projector 2048 → 128,
and the image-simclr augmentations (crop, flip, colour jitter, grayscale) run on the device. Each
configuration runs sslterm's own training step (``sslterm.train.loop.train_step``) for ``--warmup``
untimed steps (compilation included when compile is on, reported as ``warmup_s``) and ``--steps``
timed ones, and reports images per second, the seconds one 50,000-image epoch would take, the GPU's
utilisation over the timed steps (NVML, sampled every 50 ms) and the peak memory torch allocated. The
configurations: fp32; bf16 autocast; bf16 with channels-last weights; bf16, channels-last and
torch.compile. For reference, published SimCLR ResNet-18 CIFAR-10 epochs take about 26 s on one GPU
with CPU augmentation. On the CPU the default is a smoke test (2 steps, fp32 only): the figures that
count need ``--device cuda``. Usage: python -m benchmarks.throughput [--device cuda] [--steps N]
[--batch B] [--configs fp32,bf16,bf16_cl,bf16_cl_compile]
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from typing import Any

import torch

from benchmarks.common import write
from benchmarks.trainer import EXPERIMENT
from sslterm import config
from sslterm.train.loop import build, open_batches, train_step
from sslterm.tui.sysinfo import load_nvml
from sslterm.utils.device import pick_device

EXPERIMENT_SETS = (
    "data.num_samples=8192", "data.num_eval=512", "data.image_size=32",
    "model.width=64", "model.stages=4", "model.blocks=2", "model.stem_stride=1",
    "model.projector_hidden=2048", "model.projector_dim=128",
    "eval.every=0", "eval.online_probe=false",
)
CONFIGS = {
    "fp32": (),
    "bf16": ("train.precision=bf16",),
    "bf16_cl": ("train.precision=bf16", "train.channels_last=true"),
    "bf16_cl_compile": ("train.precision=bf16", "train.channels_last=true", "train.compile=true"),
}
EPOCH = 50_000


class Utilisation:
    """The GPU's utilisation (NVML, percent of time a kernel ran) sampled every 50 ms on a thread, while open."""

    def __init__(self, index: int) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._nvml: Any = load_nvml()          # the dashboard's NVML; None without nvidia-ml-py or a driver
        if self._nvml is not None:
            self._handle: Any = self._nvml.nvmlDeviceGetHandleByIndex(index)
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            self.samples.append(float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu))

    def __enter__(self) -> Utilisation:
        if self._nvml is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._nvml is not None:
            self._thread.join()

    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def measure(exp: config.Experiment, steps: int, warmup: int) -> dict[str, float | None]:
    """Seconds per timed step, seconds of the warm-up steps, encoder parameters, GPU utilisation and peak memory."""
    parts = build(exp)
    batches = open_batches(parts, exp, 1)
    cuda = parts.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    n_params = sum(p.numel() for p in parts.objective.encoder.parameters())
    try:
        t0 = time.perf_counter()
        for step in range(1, warmup + 1):
            train_step(parts, batches, parts.objective, step, exp.train)
        sync()                                                   # the warm-up's queued work is done
        if cuda:
            torch.cuda.reset_peak_memory_stats(parts.device)
        t1 = time.perf_counter()
        with Utilisation(parts.device.index or 0) if cuda else contextlib.nullcontext() as util:
            for step in range(warmup + 1, warmup + steps + 1):
                train_step(parts, batches, parts.objective, step, exp.train)
            sync()
            t2 = time.perf_counter()
        return {"per_step": (t2 - t1) / steps, "warmup_s": t1 - t0, "params": float(n_params),
                "gpu_util_pct": util.mean() if util is not None else None,
                "peak_mib": torch.cuda.max_memory_allocated(parts.device) / 2**20 if cuda else None}
    finally:
        batches.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--steps", type=int, default=0, help="timed steps (default: 100 on CUDA, 2 on the CPU)")
    ap.add_argument("--warmup", type=int, default=0, help="untimed steps (default: 10 on CUDA, 1 on the CPU)")
    ap.add_argument("--configs", default="", help=f"comma-separated, of {', '.join(CONFIGS)} "
                                                  "(default: all on CUDA, fp32 on the CPU)")
    args = ap.parse_args()
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (100 if cuda else 2)
    warmup = args.warmup or (10 if cuda else 1)
    chosen = [c for c in args.configs.split(",") if c] or (list(CONFIGS) if cuda else ["fp32"])
    unknown = [c for c in chosen if c not in CONFIGS]
    if unknown:
        ap.error(f"--configs: unknown {', '.join(unknown)}; allowed: {', '.join(CONFIGS)}")
    rows = []
    for name in chosen:
        sets = [*EXPERIMENT_SETS, f"train.batch_size={args.batch}", f"train.device={args.device}",
                f"train.steps={warmup + steps}", *CONFIGS[name]]
        exp = config.load(EXPERIMENT, sets)
        m = measure(exp, steps, warmup)
        per_step = float(m["per_step"] or 0.0)
        rows.append({"config": name, "ms_per_step": 1e3 * per_step, "images_per_s": args.batch / per_step,
                     "epoch_s": EPOCH / args.batch * per_step, "warmup_s": m["warmup_s"],
                     "gpu_util_pct": m["gpu_util_pct"], "peak_mib": m["peak_mib"],
                     "encoder_params_M": float(m["params"] or 0.0) / 1e6})
    best = min(rows, key=lambda r: r["ms_per_step"])
    write("throughput", rows, {
        "device": str(device), "best": best["config"], "best_epoch_s": best["epoch_s"],
        "batch": args.batch, "steps": steps, "warmup": warmup, "epoch_images": EPOCH,
        "reference": "published SimCLR ResNet-18 CIFAR-10: about 26 s per epoch on one GPU, CPU augmentation",
        "note": None if cuda else "CPU smoke test: the figures that count need --device cuda",
    })


if __name__ == "__main__":
    main()
