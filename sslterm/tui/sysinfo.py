"""What the worker process costs: its CPU and memory from /proc, the GPU's from NVML (nvidia-ml-py, the optional
``gpu`` extra), else from nvidia-smi (no psutil, no UI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GPU_EVERY = 5.0  # seconds between GPU readings at most (NVML or nvidia-smi)
GPU_TIMEOUT = 2.0
MIB = float(1 << 20)


@dataclass(frozen=True)
class GpuInfo:
    """One GPU's utilisation and memory, and what the worker holds on it when nvidia-smi says."""

    index: int
    util_pct: float
    used_mib: float
    total_mib: float
    proc_mib: float | None = None


@dataclass(frozen=True)
class SystemSample:
    """The worker's CPU (percent of one core, so up to 100 × cores) and resident memory, and its GPU."""

    cpu_pct: float | None
    rss_bytes: int | None
    gpu: GpuInfo | None = None


def cpu_ticks(stat: str) -> int:
    """utime + stime (clock ticks) from the text of /proc/<pid>/stat (the command may hold spaces)."""
    fields = stat.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted after the command


def rss_bytes(status: str) -> int | None:
    """VmRSS from the text of /proc/<pid>/status, in bytes."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            return int(parts[1]) * 1024 if len(parts) >= 2 and parts[1].isdigit() else None
    return None


GPU_QUERY = "--query-gpu=index,pci.bus_id,utilization.gpu,memory.used,memory.total"
APPS_QUERY = "--query-compute-apps=pid,gpu_bus_id,used_memory"


def _csv_lines(text: str) -> list[list[str]]:
    return [[p.strip() for p in line.split(",")] for line in text.strip().splitlines() if line.strip()]


def parse_gpus(text: str) -> dict[str, GpuInfo]:
    """PCI bus id -> GPU from the lines of :data:`GPU_QUERY` (CSV, no header, no units); bad lines skipped."""
    out = {}
    for parts in _csv_lines(text):
        try:
            out[parts[1]] = GpuInfo(int(parts[0]), float(parts[2]), float(parts[3]), float(parts[4]))
        except (ValueError, IndexError):
            continue  # "[N/A]" or a line that is not data
    return out


def pick_gpu(gpus_text: str, apps_text: str, pid: int, index: int) -> GpuInfo | None:
    """The GPU the worker holds memory on when nvidia-smi lists its pid, else the one its device names.

    nvidia-smi cannot see the pid from inside some containers, and ``cuda:N`` counts only the devices
    in the worker's CUDA_VISIBLE_DEVICES, so the pid is the better guide when it is there.
    """
    gpus = parse_gpus(gpus_text)
    for parts in _csv_lines(apps_text):
        if len(parts) >= 3 and parts[0] == str(pid) and parts[1] in gpus:
            gpu = gpus[parts[1]]
            try:
                mib = float(parts[2])
            except ValueError:
                mib = None
            return GpuInfo(gpu.index, gpu.util_pct, gpu.used_mib, gpu.total_mib, mib)
    return next((g for g in gpus.values() if g.index == index), None)


def nvml_gpu(nvml: Any, pid: int, index: int) -> GpuInfo | None:
    """The GPU as :func:`pick_gpu` chooses it, read through NVML (``pynvml``, initialised): the one whose
    compute processes include the worker's pid, else the one its device names. NVMLError propagates."""
    found: GpuInfo | None = None
    for i in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        util = nvml.nvmlDeviceGetUtilizationRates(handle).gpu
        gpu = GpuInfo(i, float(util), memory.used / MIB, memory.total / MIB)
        for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == pid:
                used = proc.usedGpuMemory  # None where the driver does not say (some containers)
                return GpuInfo(i, gpu.util_pct, gpu.used_mib, gpu.total_mib, used / MIB if used is not None else None)
        if i == index:
            found = gpu
    return found


def load_nvml() -> Any | None:
    """``pynvml``, initialised, or None where it is not installed or finds no driver (then nvidia-smi is asked)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    return pynvml


def device_index(device: str | None) -> int | None:
    """The GPU index of a torch device name: 0 for ``cuda``, 2 for ``cuda:2``; None for the CPU."""
    if not device or not device.startswith("cuda"):
        return None
    _, _, idx = device.partition(":")
    return int(idx) if idx.isdigit() else 0


class SystemSampler:
    """Samples one worker process; keep one per dashboard, call :meth:`sample` from one thread at a time."""

    def __init__(self) -> None:
        self._last_cpu: tuple[int, int, float] | None = None  # (pid, ticks, monotonic time)
        self._nvidia_smi = shutil.which("nvidia-smi")
        self._nvml: Any | None = None
        self._nvml_tried = False  # loaded at the first GPU reading, in the sampling thread, not at start-up
        self._last_gpu_call = -GPU_EVERY
        self._gpu: GpuInfo | None = None
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def sample(self, pid: int, device: str | None) -> SystemSample:
        """The worker's CPU since the last sample, its memory, and (every few seconds) its GPU."""
        proc = Path(f"/proc/{pid}")
        try:
            ticks = cpu_ticks((proc / "stat").read_text())
            rss = rss_bytes((proc / "status").read_text())
        except (OSError, ValueError, IndexError):
            return SystemSample(None, None, self._gpu_info(pid, device))
        now = time.monotonic()
        cpu = None
        if self._last_cpu is not None and self._last_cpu[0] == pid and now > self._last_cpu[2]:
            cpu = 100.0 * (ticks - self._last_cpu[1]) / self._tick / (now - self._last_cpu[2])
        self._last_cpu = (pid, ticks, now)
        return SystemSample(cpu, rss, self._gpu_info(pid, device))

    def _gpu_info(self, pid: int, device: str | None) -> GpuInfo | None:
        index = device_index(device)
        if index is None:
            return None
        if time.monotonic() - self._last_gpu_call < GPU_EVERY:
            return self._gpu
        self._last_gpu_call = time.monotonic()
        if not self._nvml_tried:
            self._nvml_tried, self._nvml = True, load_nvml()
        if self._nvml is not None:
            try:
                self._gpu = nvml_gpu(self._nvml, pid, index)
                return self._gpu
            except self._nvml.NVMLError:
                self._nvml = None  # the driver went away: nvidia-smi from now on
        if self._nvidia_smi is None:
            return None
        gpus = self._query(GPU_QUERY)
        apps = self._query(APPS_QUERY) if gpus else None
        self._gpu = pick_gpu(gpus or "", apps or "", pid, index)
        return self._gpu

    def _query(self, what: str) -> str | None:
        assert self._nvidia_smi is not None
        try:
            done = subprocess.run([self._nvidia_smi, what, "--format=csv,noheader,nounits"], capture_output=True,
                                  text=True, timeout=GPU_TIMEOUT, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

