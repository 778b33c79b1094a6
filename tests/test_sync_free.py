"""The training step never waits for the device: nothing is read back between two metric records.

On CUDA the steps between two records run under ``torch.cuda.set_sync_debug_mode("error")``, which
raises on any synchronising call. On the CPU nothing can block, so a TorchFunctionMode records every
call made from sslterm's code that would synchronise on CUDA (reading a value on the host, shapes
that depend on data, tensors made from Python data) and the test asserts there were none.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

import sslterm
from sslterm import config
from sslterm.train.loop import Window, build, open_batches, train_step
from sslterm.utils.probes import OnlineProbe
from tests.conftest import EXPERIMENTS
from tests.test_experiments import shrink

PACKAGE = str(Path(sslterm.__file__).parent)
# calls that wait for a CUDA device: host reads, data-dependent shapes, host data copied to the device
SYNCING = {"item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__", "nonzero", "argwhere",
           "masked_select", "unique", "unique_consecutive", "tensor", "as_tensor", "linalg_inv", "linalg_cholesky",
           "linalg_solve", "multinomial"}
INDEXING = {"__getitem__", "__setitem__", "index_put", "index_put_"}
REPRESENTATIVE = ("image-simclr", "image-byol", "text-masked", "graph-infonce", "audio-vicreg",
                  "video-temporal_order")


class SyncRecorder(TorchFunctionMode):
    """Records (function, file:line) of each call from code under ``root`` (sslterm) that would synchronise on CUDA."""

    def __init__(self, root: str = PACKAGE) -> None:
        super().__init__()
        self.root = root
        self.calls: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        name = getattr(func, "__name__", "")
        caller = sys._getframe(1)
        if caller.f_code.co_filename.startswith(self.root) and self._syncs(name, args):
            self.calls.append(f"{name} at {caller.f_code.co_filename}:{caller.f_lineno}")
        return func(*args, **(kwargs or {}))

    @staticmethod
    def _syncs(name: str, args: tuple[Any, ...]) -> bool:
        if name in SYNCING:
            return True
        if name in INDEXING and len(args) > 1:                      # boolean-mask indexing: a nonzero inside
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
        return name == "repeat_interleave" and len(args) > 1 and isinstance(args[1], torch.Tensor)


def steps_between_records(name: str, device: str, *extra: str) -> list[str]:
    """Run steps 3..10 of experiment ``name`` (after two warm-up steps) and return what would have synced."""
    path = EXPERIMENTS / f"{name}.toml"
    exp = config.load(path, [*shrink(path), "train.steps=10", f"train.device={device}", *extra])
    parts = build(exp)
    batches = open_batches(parts, exp, 1)
    window = Window(parts.device)
    recorder = SyncRecorder()
    try:
        for step in (1, 2):
            window.add(*train_step(parts, batches, parts.objective, step, exp.train))
        if parts.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
        try:
            with recorder:
                for step in range(3, 11):                          # step 9 makes the extra probe pass, if any
                    window.add(*train_step(parts, batches, parts.objective, step, exp.train))
        finally:
            if parts.device.type == "cuda":
                torch.cuda.set_sync_debug_mode("default")
        assert window.count == 10 and all(math.isfinite(v) for v in window.read().values())
    finally:
        batches.close()
    return recorder.calls


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_the_step_never_reads_the_device_on_the_host(name: str) -> None:
    assert steps_between_records(name, "cpu") == []


def test_streamed_batches_step_without_host_reads() -> None:
    assert steps_between_records("image-simclr", "cpu", "data.on_device=false", "data.workers=1") == []


def test_the_recorder_sees_what_would_sync() -> None:
    window = Window(torch.device("cpu"))
    window.add(torch.ones(()), {})
    with SyncRecorder() as recorder:
        window.read()                                               # a record's read-back, in sslterm's code
    assert len(recorder.calls) == 1 and recorder.calls[0].startswith("tolist at") and "recorder.py" in recorder.calls[0]
    x = torch.ones(4)
    with SyncRecorder(root=str(Path(__file__).parent)) as recorder:
        _ = x.sum().item(), x[x > 0], torch.tensor([1.0]), bool(x[0]), x[:2], x.repeat_interleave(2)
    assert [c.split(" ")[0] for c in recorder.calls] == ["item", "__getitem__", "tensor", "__bool__"]


CUDA_CASES = [*((name, ()) for name in REPRESENTATIVE),
              ("image-simclr", ("data.on_device=false", "data.workers=1")),
              ("image-simclr", ("train.precision=bf16",)),
              ("image-simclr", ("train.channels_last=true",)),
              ("image-simclr", ("train.precision=bf16", "train.channels_last=true", "train.compile=true")),
              ("image-dino", ("train.precision=bf16",)),
              ("text-masked", ("train.precision=bf16", "train.compile=true"))]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: sync debug mode watches a CUDA device")
@pytest.mark.parametrize(("name", "extra"), CUDA_CASES)
def test_cuda_step_passes_sync_debug_mode(name: str, extra: tuple[str, ...]) -> None:
    assert steps_between_records(name, "cuda", *extra) == []


def test_online_probe_gradient_is_autograds() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 8, generator=gen), torch.randint(5, (64,), generator=gen)
    probe = OnlineProbe(8, 5, lr=1e-2)
    reference = OnlineProbe(8, 5, lr=1e-2)
    reference.load_state_dict(probe.state_dict())
    reference.train()
    F.cross_entropy(reference.head(reference.norm(x)), y).backward()
    probe.update(x, y)                                              # writes .grad itself, then steps
    for ours, theirs in ((probe.head.weight.grad, reference.head.weight.grad),
                         (probe.head.bias.grad, reference.head.bias.grad),
                         (probe.norm.running_mean, reference.norm.running_mean)):
        assert ours is not None and theirs is not None
        assert torch.allclose(ours, theirs, atol=1e-6)
