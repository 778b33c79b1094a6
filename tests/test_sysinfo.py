"""The system line's GPU reading: NVML (nvidia-ml-py) when it loads, nvidia-smi otherwise (fake drivers)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sslterm.tui import sysinfo
from sslterm.tui.sysinfo import GpuInfo, SystemSampler, nvml_gpu

MIB = 1 << 20


class FakeNvml:
    """pynvml's calls that the sampler makes, over two GPUs; the worker (pid 42) holds 3 GiB on GPU 1."""

    class NVMLError(Exception):
        pass

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def nvmlDeviceGetCount(self) -> int:  # NVML's names, as pynvml has them
        if self.fail:
            raise self.NVMLError("GPU is lost")
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return SimpleNamespace(used=(10 + h) * 1024 * MIB, total=80 * 1024 * MIB)

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        return SimpleNamespace(gpu=50 + h)

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[Any]:
        return [SimpleNamespace(pid=42, usedGpuMemory=3 * 1024 * MIB)] if h == 1 else []


def test_nvml_finds_the_gpu_that_holds_the_workers_memory() -> None:
    nvml = FakeNvml()
    assert nvml_gpu(nvml, 42, 0) == GpuInfo(1, 51.0, 11 * 1024, 80 * 1024, 3 * 1024)  # by pid, whatever cuda:N says
    assert nvml_gpu(nvml, 7, 0) == GpuInfo(0, 50.0, 10 * 1024, 80 * 1024, None)  # pid not listed: by index
    assert nvml_gpu(nvml, 7, 5) is None


def test_sampler_reads_nvml_and_falls_back_to_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml()
    monkeypatch.setattr(sysinfo, "load_nvml", lambda: nvml)
    sampler = SystemSampler()
    asked: list[str] = []
    sampler._nvidia_smi = "/usr/bin/nvidia-smi"

    def query(what: str) -> str | None:
        asked.append(what)
        return None

    monkeypatch.setattr(sampler, "_query", query)
    assert sampler._gpu_info(42, "cuda:0") == GpuInfo(1, 51.0, 11 * 1024, 80 * 1024, 3 * 1024)
    assert asked == []  # no nvidia-smi process while NVML answers
    nvml.fail, sampler._last_gpu_call = True, -sysinfo.GPU_EVERY
    assert sampler._gpu_info(42, "cuda:0") is None and asked == [sysinfo.GPU_QUERY]  # NVML failed: nvidia-smi
    assert sampler._nvml is None  # and is asked from now on


def test_without_nvml_or_a_driver_the_sampler_asks_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysinfo, "load_nvml", lambda: None)
    sampler = SystemSampler()
    sampler._nvidia_smi = "/usr/bin/nvidia-smi"
    gpus = "0, 00000000:01:00.0, 87, 3100, 81920\n"
    apps = "42, 00000000:01:00.0, 2900\n"
    monkeypatch.setattr(sampler, "_query", lambda what: gpus if what == sysinfo.GPU_QUERY else apps)
    assert sampler._gpu_info(42, "cuda") == GpuInfo(0, 87.0, 3100.0, 81920.0, 2900.0)
    assert sysinfo.load_nvml() is None or hasattr(sysinfo.load_nvml(), "nvmlDeviceGetCount")  # here: no driver
