"""Exact resume for every objective: stopped and resumed ends with the weights and metrics of never stopped."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sslterm import catalog, config
from sslterm.store import create_run
from sslterm.train.checkpoint import load_checkpoint
from sslterm.train.loop import train
from tests.conftest import EXPERIMENTS
from tests.test_experiments import shrink

STEADY = ("t", "time", "samples_per_s")   # wall-clock fields differ between runs by nature


def experiment_for(objective: str) -> Path:
    """A shipped experiment with ``objective``, an image one where there is one (the fastest)."""
    paths = sorted(EXPERIMENTS.glob(f"*-{objective}.toml"), key=lambda p: not p.name.startswith("image-"))
    if objective == "infonce":
        paths = [EXPERIMENTS / "image-simclr.toml", *paths]
    assert paths, f"no shipped experiment uses {objective}"
    return paths[0]


def load(path: Path) -> config.Experiment:
    return config.load(path, [*shrink(path), "train.steps=6", "train.log_every=1", "train.snapshot_every=3",
                              "train.checkpoint_every=100", "eval.every=3", "train.warmup_steps=2"])


def steady(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in STEADY} for r in records]


@pytest.mark.parametrize("objective", catalog.names("objective"))
def test_every_objective_resumes_exactly(tmp_path: Path, objective: str) -> None:
    path = experiment_for(objective)
    whole = create_run(tmp_path, "whole")
    train(load(path), whole, lambda: False, lambda s, d: None)
    parted = create_run(tmp_path, "parted")
    asked = iter(range(1, 100))
    out = train(load(path), parted, lambda: next(asked) >= 4, lambda s, d: None)   # asked after each step
    assert out.stopped and out.step == 4
    out = train(load(path), parted, lambda: False, lambda s, d: None, resume=True)
    assert out.step == 6 and not out.stopped
    a, b = load_checkpoint(whole.checkpoint_dir / "last.pt"), load_checkpoint(parted.checkpoint_dir / "last.pt")
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), f"{path.stem}: {key} differs after a resume"
    assert steady(parted.metrics()) == steady(whole.metrics()), f"{path.stem}: metrics differ after a resume"
