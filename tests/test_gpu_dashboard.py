"""On a CUDA machine, the dashboard of a run training on the GPU shows the GPU on its system line, and stop ends it.

A real worker trains image-simclr on ``cuda``; the app opens on its dashboard (Pilot, 80×24) and the
system line must come to name ``gpu0`` with its utilisation and memory, read through NVML or
nvidia-smi by the dashboard's own sampler. Skipped without CUDA (the CPU side of the system line
is tested in tests/test_sysinfo.py and tests/test_tui.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest
import torch

from sslterm import config
from sslterm.launch import launch
from sslterm.lifecycle import StopError, stop
from sslterm.store.states import is_final
from sslterm.tui.app import make_app
from sslterm.tui.widgets.system_line import SystemLine
from tests.conftest import EXPERIMENTS, wait_for, wait_for_async

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the system line reads a GPU")


def test_the_dashboard_system_line_reads_the_gpu_of_a_cuda_run(tmp_path: Path) -> None:
    exp = config.load(EXPERIMENTS / "image-simclr.toml", ["train.steps=1000000", "train.device=cuda"])
    run, proc = launch(exp, tmp_path, source="image-simclr.toml")
    shown: list[str] = []
    try:
        wait_for(lambda: run.status().step > 0 or is_final(run.status().state), timeout=180,
                 what=lambda: "\n".join(run.log_tail(30)))
        assert run.status().state == "running", run.log_tail(30)

        async def body() -> None:
            app = make_app(tmp_path, run.id)
            async with app.run_test(size=(80, 24)) as pilot:
                await wait_for_async(lambda: "gpu0" in app.screen.query_one(SystemLine).render().plain,
                                     timeout=60, what="gpu0 on the system line")
                shown.append(app.screen.query_one(SystemLine).render().plain)
                await pilot.pause()

        asyncio.run(body())
    finally:
        with contextlib.suppress(StopError):                      # it may have ended on its own
            stop(run)
        wait_for(lambda: is_final(run.status().state), timeout=120, what="the stopped run to end")
        proc.wait(timeout=60)
    line = shown[0]
    assert "gpu0" in line and "%" in line and "/" in line, line
    if out := os.environ.get("SSLTERM_GPU_LINE"):               # benchmarks/gpu_check.sh keeps the line it saw
        Path(out).write_text(line + "\n", encoding="utf-8")
    assert run.status().state == "stopped"
