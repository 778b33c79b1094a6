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


def test_the_run_status_counts_the_steps_and_epochs_and_resume_takes_epochs(tmp_path: Path) -> None:
    import json

    from tests.conftest import sslterm, tiny_sets

    runs = tmp_path / "runs"
    out = sslterm("run", *tiny_sets("data.num_samples=64", "train.epochs=2", "train.batch_size=16", "eval.every=0",
                                    "train.checkpoint_every=4"), runs=runs, timeout=300)
    assert out.returncode == 0, out.stderr
    [status] = list(runs.glob("*/status.json"))
    run_id = status.parent.name
    record = json.loads(status.read_text())
    assert (record["step"], record["total_steps"], record["state"]) == (8, 8, "finished")
    assert (record["epochs"], record["steps_per_epoch"]) == (2, 4.0), "the worker records the epochs"
    assert "2 epoch(s) of 4 steps: 8 steps" in (status.parent / "worker.log").read_text()
    shown = sslterm("show", run_id, runs=runs)
    assert f"{run_id}  finished  epoch 2/2 · step 8/8" in shown.stdout, shown.stdout
    listed = sslterm("ls", runs=runs).stdout
    assert "epoch" in listed.splitlines()[0] and " 2/2 " in listed and " 8/8 " in listed, listed
    from sslterm.lifecycle import ResumeError, resume
    from sslterm.store import Run

    with pytest.raises(ResumeError, match=r"trains by epochs \(train\.epochs = 2, 4 steps each\); expected --epochs N"):
        resume(Run(status.parent), steps=12)
    with pytest.raises(ResumeError, match="expected more than the 2 epochs"):
        resume(Run(status.parent), epochs=2)
    out = sslterm("resume", run_id, "--epochs", "3", runs=runs, timeout=300)
    assert out.returncode == 0, out.stderr
    record = json.loads(status.read_text())
    assert (record["step"], record["total_steps"], record["epochs"], record["state"]) == (12, 12, 3, "finished")
    assert "epoch 3/3 · step 12/12" in sslterm("show", run_id, runs=runs).stdout


def test_the_epoch_in_words_and_in_the_dashboard() -> None:
    from sslterm.store import Status
    from sslterm.store.summary import epoch_words, progress_words
    from sslterm.tui.poller import MetricSeries
    from sslterm.tui.widgets.run_header import progress_info

    assert progress_words(1234, 4120, 10, 412.0) == "epoch 3/10 · step 1,234/4,120"
    assert progress_words(0, 4120, 10, 412.0) == "epoch 0/10 · step 0/4,120", "nothing trained yet"
    assert progress_words(412, 4120, 10, 412.0) == "epoch 1/10 · step 412/4,120", "the first epoch just ended"
    assert progress_words(0, 0, 10, 0.0) == "epoch 0/10 · step 0", "steps not known before the data is loaded"
    assert progress_words(21, 500, 0, 50.0) == "epoch 0.42 · step 21/500", "steps decide: the fraction of a pass"
    assert progress_words(21, 500, 0, 0.0) == "step 21/500" and epoch_words(5, 0, 0.0) is None
    status = Status(id="r", state="running", step=1234, total_steps=4120, epochs=10, steps_per_epoch=412.0)
    assert progress_info(status, "running", MetricSeries(), 0.0).epoch == "3/10"


def test_the_steps_of_an_epoch_are_reported_once_the_data_is_loaded(tmp_path: Path) -> None:
    from sslterm.train.loop import epoch_steps

    exp = config.from_overrides([*TINY, "train.batch_size=16", "train.steps=2", "eval.every=0"])
    assert epoch_steps(exp, 100, 2) == 100 / 32, "steps decide: train size / (batch × processes)"
    epochs = config.from_overrides([*TINY, "train.batch_size=16", "train.epochs=1", "eval.every=0"])
    assert epoch_steps(epochs, 100, 2) == 4.0, "by epochs: whole steps, as the epoch sampler takes them"
    told: list[tuple[int, float]] = []
    train(exp, create_run(tmp_path, "told"), lambda: False, lambda step, device: None,
          on_steps=lambda steps, per_epoch: told.append((steps, per_epoch)))
    assert told == [(2, 256 / 16)], "TINY has 256 training examples"


def test_resume_takes_steps_for_a_run_by_steps_and_parses_either_count(tmp_path: Path) -> None:
    from sslterm.launch import prepare
    from sslterm.lifecycle import ResumeError, resume, resume_steps

    run = prepare(config.from_overrides(list(TINY)), tmp_path)
    with pytest.raises(ResumeError, match=r"trains by steps \(train\.steps = 6, no train\.epochs\); expected --steps"):
        resume(run, epochs=3)
    assert resume_steps(["train.epochs=4"], None) == (None, 4) and resume_steps([], 9) == (9, None)
    with pytest.raises(config.ConfigError, match="give one"):
        resume_steps(["train.epochs=4"], 9)
    with pytest.raises(config.ConfigError, match="expected a whole number of epochs"):
        resume_steps(["train.epochs=0"], None)
