"""The speed switches of [train] and streamed data: each trains, and none changes what a run saves."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from sslterm import config
from sslterm.data import build_dataset
from sslterm.data.stream import FREE_FRACTION, keep_on_device
from sslterm.store import create_run
from sslterm.train.accel import channels_last, fused_available, make_optimizer
from sslterm.train.checkpoint import load_checkpoint
from sslterm.train.loop import build, train
from tests.conftest import TINY

STEADY = ("t", "time", "samples_per_s")


def tiny(*extra: str) -> config.Experiment:
    return config.from_overrides([*TINY, "train.steps=2", "train.log_every=1", "eval.every=2", "eval.max_examples=32",
                                  "eval.bank_size=64", *extra])


def run_tiny(tmp_path: Path, name: str, *extra: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    run = create_run(tmp_path, name)
    train(tiny(*extra), run, lambda: False, lambda step, device: None)
    records = [{k: v for k, v in r.items() if k not in STEADY} for r in run.metrics()]
    return records, load_checkpoint(run.checkpoint_dir / "last.pt")


@pytest.mark.parametrize("switch", ["train.precision=bf16", "train.channels_last=true", "data.on_device=false"])
def test_each_switch_trains_and_saves_the_same_names(tmp_path: Path, switch: str) -> None:
    records, ckpt = run_tiny(tmp_path, "on", switch)
    assert [r["step"] for r in records] == [1, 2] and all(math.isfinite(r["loss"]) for r in records)
    assert "knn_acc" in records[-1]
    assert set(ckpt["model"]) == set(build(tiny()).objective.state_dict())
    assert all(v.dtype == torch.float32 for v in ckpt["model"].values() if v.is_floating_point())


def test_compile_keeps_checkpoint_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # aot_eager traces the networks as inductor does but skips its C++ code generation (minutes on 2 cores)
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    compiled, ckpt = run_tiny(tmp_path, "compiled", "train.compile=true")
    eager, _ = run_tiny(tmp_path, "eager")
    assert not [k for k in ckpt["model"] if "_orig_mod" in k]
    build(tiny()).objective.load_state_dict(ckpt["model"])               # loads into an uncompiled objective
    assert [r["loss"] for r in compiled] == pytest.approx([r["loss"] for r in eager], rel=1e-4)


@pytest.mark.skipif(not os.environ.get("SSLTERM_SLOW"), reason="inductor compiles C++ for minutes on a small CPU; "
                                                                "set SSLTERM_SLOW=1 to run it")
def test_compile_with_inductor_trains(tmp_path: Path) -> None:
    records, ckpt = run_tiny(tmp_path, "inductor", "train.compile=true")
    assert all(math.isfinite(r["loss"]) for r in records) and not [k for k in ckpt["model"] if "_orig_mod" in k]


def test_streamed_batches_train_exactly_as_resident_ones(tmp_path: Path) -> None:
    extra = ("train.steps=3", "eval.every=3")
    resident, a = run_tiny(tmp_path, "resident", *extra)
    streamed, b = run_tiny(tmp_path, "streamed", *extra, "data.on_device=false", "data.workers=1")
    assert streamed == resident, "the same examples per step, the same views, the same losses and probes"
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_bf16_autocast_loss_is_close_to_fp32(tmp_path: Path) -> None:
    fp32, _ = run_tiny(tmp_path, "fp32")
    bf16, _ = run_tiny(tmp_path, "bf16", "train.precision=bf16")
    assert bf16[0]["loss"] == pytest.approx(fp32[0]["loss"], rel=0.05)
    assert bf16[0]["loss"] != fp32[0]["loss"], "autocast ran in bf16"


def test_channels_last_stores_convolution_weights_channels_last() -> None:
    objective = build(tiny()).objective
    channels_last(objective)
    convs = [p for p in objective.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)


def test_channels_last_is_left_off_on_the_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    # torch 2.13's CPU backward of a strided 1x1 convolution with few channels corrupts the heap in this layout
    parts = build(tiny("train.channels_last=true"))
    assert not parts.objective.encoder.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert "train.channels_last: ignored on the CPU" in capsys.readouterr().out


def test_fused_adamw_takes_the_same_step_as_the_loop_one() -> None:
    if not fused_available(torch.device("cpu")):
        pytest.skip("this torch has no fused AdamW for the CPU")
    cfg = tiny().train
    gen = torch.Generator().manual_seed(0)
    weights = [torch.randn(8, 4, generator=gen), torch.randn(4, generator=gen)]
    grads = [torch.randn(8, 4, generator=gen), torch.randn(4, generator=gen)]
    after = []
    for fused in (False, True):
        params = [torch.nn.Parameter(w.clone()) for w in weights]
        opt = make_optimizer(params, cfg, torch.device("cpu"), fused=fused)
        assert opt.defaults["fused"] is fused
        for _ in range(3):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            opt.step()
        after.append([p.detach() for p in params])
    assert all(torch.allclose(u, f, atol=1e-6) for u, f in zip(*after, strict=True))


def test_on_device_auto_decides_by_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    data = build_dataset("shapes", {"num_samples": 64, "num_eval": 8, "image_size": 16, "seed": 0, "upright": False})
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert keep_on_device("auto", data, cpu) and not keep_on_device("false", data, cpu)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (int(data.nbytes() / FREE_FRACTION), 1 << 40))
    assert keep_on_device("auto", data, cuda)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (int(data.nbytes() / FREE_FRACTION) - 1, 1 << 40))
    assert not keep_on_device("auto", data, cuda) and keep_on_device("true", data, cuda)


def test_switch_values_are_checked() -> None:
    assert config.from_overrides(["data.on_device=false"]).data.on_device == "false"   # a TOML boolean
    assert config.from_overrides(["data.on_device=auto"]).data.on_device == "auto"
    with pytest.raises(config.ConfigError, match=r"data.on_device: got 'maybe', expected one of 'auto', 'true'"):
        config.from_overrides(["data.on_device=maybe"])
    with pytest.raises(config.ConfigError, match=r"train.precision: got 'fp16'.*expected one of 'fp32', 'bf16'"):
        config.from_overrides(["train.precision=fp16"])
    with pytest.raises(config.ConfigError, match=r"train.compile: got 'yes', expected true or false"):
        config.from_overrides(["train.compile=yes"])
