"""Runs that fail say so truthfully: divergence anywhere, before the first checkpoint, unreadable checkpoints."""

from __future__ import annotations

import dataclasses
import errno
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from sslterm import config
from sslterm.store import create_run, read_status
from sslterm.train.checkpoint import CheckpointError, load_checkpoint
from sslterm.train.loop import Diverged, train, warn_batch_size
from tests.conftest import EXPERIMENTS, TINY, prepare_run, start_faulty_worker
from tests.test_experiments import shrink


def tiny(*extra: str) -> config.Experiment:
    return config.from_overrides([*TINY, "eval.every=0", *extra])


def test_a_non_finite_snapshot_is_divergence_not_a_json_error(tmp_path: Path) -> None:
    path = EXPERIMENTS / "text-masked.toml"                # train.lr = 10 blows the encoder's features up
    exp = config.load(path, [*shrink(path), "train.lr=10", "eval.every=0", "train.steps=20", "train.log_every=5",
                             "train.snapshot_every=2", "train.checkpoint_every=100"])
    run = create_run(tmp_path, "lr10")
    with pytest.raises(Diverged) as caught:
        train(exp, run, lambda: False, lambda s, d: None)
    message = str(caught.value)
    assert re.fullmatch(r".+ became (nan|inf|-inf) by step \d+; no checkpoint had been written yet", message), message
    assert caught.value.step <= 20
    assert not (run.checkpoint_dir / "last.pt").exists()


def test_non_finite_held_out_features_are_divergence(tmp_path: Path) -> None:
    path = EXPERIMENTS / "text-masked.toml"                # the SVD of rankme failed on them before
    exp = config.load(path, [*shrink(path), "train.lr=10", "eval.every=2", "train.steps=20", "train.log_every=5",
                             "train.snapshot_every=100", "train.checkpoint_every=100"])
    with pytest.raises(Diverged, match=r"became (nan|inf|-inf) by step"):
        train(exp, create_run(tmp_path, "lr10"), lambda: False, lambda s, d: None)


def poison_infonce(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """Make the InfoNCE loss NaN from its ``after``+1-th call on."""
    from sslterm.objectives import infonce

    real, calls = infonce.info_nce, []

    def poisoned(z1: torch.Tensor, z2: torch.Tensor, t: float, *form: str) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(1)
        loss, acc = real(z1, z2, t, *form)
        return (loss * float("nan"), acc) if len(calls) > after else (loss, acc)

    monkeypatch.setattr(infonce, "info_nce", poisoned)


def test_divergence_at_step_1_claims_no_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    poison_infonce(monkeypatch, after=0)
    run = create_run(tmp_path, "nan1")
    with pytest.raises(Diverged) as caught:
        train(tiny("train.log_every=1"), run, lambda: False, lambda s, d: None)
    assert str(caught.value) == "loss became nan by step 1; no checkpoint had been written yet"
    assert caught.value.saved is None and not (run.checkpoint_dir / "last.pt").exists()


def test_divergence_after_a_checkpoint_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    poison_infonce(monkeypatch, after=5)
    run = create_run(tmp_path, "nan6")
    with pytest.raises(Diverged) as caught:
        train(tiny("train.steps=12", "train.log_every=3", "train.checkpoint_every=4"), run, lambda: False,
              lambda s, d: None)
    assert str(caught.value) == "loss became nan by step 6; the last good checkpoint (step 4) is kept"
    assert load_checkpoint(run.checkpoint_dir / "last.pt")["step"] == 4


def test_resume_without_a_checkpoint_starts_again_from_step_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = create_run(tmp_path, "early")
    with monkeypatch.context() as m:
        poison_infonce(m, after=2)
        with pytest.raises(Diverged):
            train(tiny("train.log_every=1"), run, lambda: False, lambda s, d: None)
    assert [r["step"] for r in run.metrics()] == [1, 2]
    out = train(tiny("train.log_every=1"), run, lambda: False, lambda s, d: None, resume=True)
    assert out.step == 6
    assert [r["step"] for r in run.metrics()] == [1, 2, 3, 4, 5, 6], "the logs start again, nothing twice"


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"\x80\x02}q\x00.", "keyless", "truncated"])
def test_an_unreadable_checkpoint_is_one_line(tmp_path: Path, content: bytes | str) -> None:
    run = create_run(tmp_path, "bad")
    train(tiny("train.steps=2"), run, lambda: False, lambda s, d: None)
    path = run.checkpoint_dir / "last.pt"
    if content == "keyless":
        torch.save({"weights": torch.ones(2)}, path)
    elif content == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    with pytest.raises(CheckpointError) as caught:
        train(tiny("train.steps=4"), run, lambda: False, lambda s, d: None, resume=True)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"cannot read the checkpoint {path}"), message
    assert len(message) - len(str(path)) < 150


def test_a_batch_larger_than_the_training_split_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    # the loader refuses this for generated data; files and several processes are only measured at start
    exp = tiny("data.num_samples=64", "data.num_eval=16", "train.steps=1")
    exp = dataclasses.replace(exp, train=dataclasses.replace(exp.train, batch_size=100))
    warnings: list[str] = []
    train(exp, create_run(tmp_path, "big"), lambda: False, lambda s, d: None, on_warning=warnings.append)
    assert len(warnings) == 1 and "train.batch_size = 100 is larger than the training split (64" in warnings[0]
    assert warnings[0] in capsys.readouterr().out, "the warning is in the worker's log too"
    warnings.clear()
    train(tiny("train.steps=1"), create_run(tmp_path, "fits"), lambda: False, lambda s, d: None,
          on_warning=warnings.append)
    assert warnings == []


def test_the_batch_warning_counts_each_process_share() -> None:
    exp = tiny("data.num_samples=64", "train.batch_size=40")
    parts = SimpleNamespace(data=range(64), dist=SimpleNamespace(world=2))
    assert warn_batch_size(exp, parts) is not None                   # type: ignore[arg-type]
    parts.dist.world = 1
    assert warn_batch_size(exp, parts) is None                       # type: ignore[arg-type]


def test_a_full_disk_before_the_first_checkpoint_says_resume_starts_from_step_0() -> None:
    from sslterm.worker import describe_failure

    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/x/metrics.jsonl")
    assert describe_failure(full, 8, checkpoint=False) == (
        "cannot write /runs/x/metrics.jsonl: No space left on device; free some space, then start it again "
        "from step 0 (no checkpoint had been written): `sslterm resume`")
    assert describe_failure(full, 8).endswith("then continue from the last checkpoint: `sslterm resume`")


def test_the_worker_records_a_full_disk_before_the_first_checkpoint_truthfully(runs: Path) -> None:
    run_dir = prepare_run(runs, "train.steps=8", "train.log_every=1", "train.checkpoint_every=4", "eval.every=0")
    proc = start_faulty_worker(run_dir, "enospc-metrics", 1)
    assert proc.wait(timeout=120) == 1
    status = read_status(run_dir)
    assert status.state == "failed" and status.error is not None
    assert "start it again from step 0 (no checkpoint had been written)" in status.error, status.error
    assert "\n" not in status.error
