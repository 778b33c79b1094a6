"""``train.epochs``: every training example exactly once per epoch across the ranks, no sampler state."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from sslterm import config
from sslterm.data.stream import EpochSampler, steps_per_epoch
from sslterm.store import create_run
from sslterm.train.loop import train, with_epoch_steps
from tests.conftest import TINY

CPU = torch.device("cpu")


@pytest.mark.parametrize(("n", "batch", "world"), [(64, 8, 1), (37, 5, 2), (100, 7, 3), (10, 4, 2), (9, 4, 2)])
def test_each_epoch_visits_every_example_once_across_ranks(n: int, batch: int, world: int) -> None:
    ranks = [EpochSampler(n, batch, seed=3, rank=r, world=world, device=CPU) for r in range(world)]
    per_epoch = ranks[0].per_epoch
    assert per_epoch == steps_per_epoch(n, batch, world) == math.ceil(n / (batch * world))
    orders = []
    for epoch in range(2):
        steps = range(epoch * per_epoch + 1, (epoch + 1) * per_epoch + 1)
        seen = [s.item() for step in steps for r in ranks for s in r(step)]
        assert sorted(seen) == list(range(n)), "each example exactly once, on one rank"
        assert all(0 < len(r(step)) <= batch for step in steps for r in ranks)
        assert {r.epoch(step) for step in steps for r in ranks} == {epoch}
        orders.append(seen)
    assert orders[0] != orders[1], "each epoch in its own order"


def test_a_step_needs_no_sampler_state() -> None:
    walked = EpochSampler(50, 6, seed=1, rank=1, world=2, device=CPU)
    history = [walked(step) for step in range(1, 20)]
    for step in (17, 3, 11):                                 # a fresh sampler, as after a resume
        assert torch.equal(EpochSampler(50, 6, seed=1, rank=1, world=2, device=CPU)(step), history[step - 1])
    assert not torch.equal(EpochSampler(50, 6, seed=2, rank=1, world=2, device=CPU)(1), history[0])


def test_epochs_set_the_number_of_steps(tmp_path: Path) -> None:
    exp = config.from_overrides([*TINY, "data.num_samples=64", "train.epochs=2", "train.batch_size=16",
                                 "train.log_every=1", "eval.every=0"])
    assert exp.train.epochs == 2
    assert with_epoch_steps(exp, 64, 1).train.steps == 8 and with_epoch_steps(exp, 64, 3).train.steps == 4
    assert with_epoch_steps(config.from_overrides(list(TINY)), 64, 1).train.steps == 6, "no epochs: steps decide"
    run = create_run(tmp_path, "epochs")
    outcome = train(exp, run, lambda: False, lambda step, device: None)
    assert outcome.step == 8 and [r["step"] for r in run.metrics()][-1] == 8
    with pytest.raises(config.ConfigError, match=r"train\.epochs"):
        config.from_overrides(["train.epochs=-1"])


def test_the_run_status_counts_the_steps_the_epochs_make(tmp_path: Path) -> None:
    import json

    from tests.conftest import sslterm, tiny_sets

    runs = tmp_path / "runs"
    out = sslterm("run", *tiny_sets("data.num_samples=64", "train.epochs=2", "train.batch_size=16", "eval.every=0"),
                  runs=runs, timeout=300)
    assert out.returncode == 0, out.stderr
    [status] = list(runs.glob("*/status.json"))
    record = json.loads(status.read_text())
    assert (record["step"], record["total_steps"], record["state"]) == (8, 8, "finished")
    assert "2 epoch(s) of 4 steps: 8 steps" in (status.parent / "worker.log").read_text()
