"""Probes and diagnostics on data whose answer is known, and the online probe's isolation."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from sslterm import cli, config
from sslterm.data import Dataset
from sslterm.evaluate.supervised import train_end_to_end
from sslterm.evaluate.transfer import evaluate_run, finetune, restore, untrained_encoder
from sslterm.health import collapse_warning
from sslterm.launch import prepare
from sslterm.models import Encoder
from sslterm.store import create_run
from sslterm.train.checkpoint import load_checkpoint
from sslterm.train.loop import train
from sslterm.utils import probes
from sslterm.utils.diagnostics import alignment, embedding_std, rankme, uniformity
from sslterm.utils.probes import OnlineProbe, knn_accuracy, knn_predict, linear_probe
from tests.conftest import TINY


def blobs(n: int, d: int, classes: int, seed: int, spread: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=torch.Generator().manual_seed(99)) * 3
    y = torch.arange(n) % classes
    return centres[y] + spread * torch.randn(n, d, generator=g), y


def brute_force_knn(bank: torch.Tensor, bank_y: torch.Tensor, q: torch.Tensor, classes: int, k: int,
                    t: float) -> list[int]:
    out = []
    for qi in q:
        sims = [float(torch.dot(qi / qi.norm(), b / b.norm())) for b in bank]
        nearest = sorted(range(len(sims)), key=lambda j: -sims[j])[:k]
        votes = [0.0] * classes
        for j in nearest:
            votes[int(bank_y[j])] += math.exp(sims[j] / t)
        out.append(max(range(classes), key=lambda c: votes[c]))
    return out


def test_knn_agrees_with_brute_force() -> None:
    bank, bank_y = blobs(60, 5, 3, seed=0, spread=2.0)
    q, _ = blobs(15, 5, 3, seed=1, spread=2.0)
    fast = knn_predict(bank, bank_y, q, 3, k=7, temperature=0.5, chunk=4)
    assert fast.tolist() == brute_force_knn(bank, bank_y, q, 3, 7, 0.5)


def test_probes_reach_the_known_accuracy() -> None:
    x, y = blobs(300, 8, 4, seed=0)
    xt, yt = blobs(100, 8, 4, seed=1)
    assert linear_probe(x, y, xt, yt, 4) == 1.0
    assert knn_accuracy(x, y, xt, yt, 4, k=5) == 1.0
    assert knn_accuracy(x, y, x, y, 4, k=1) == 1.0, "duplicated points find themselves"
    noise = torch.randn(100, 8, generator=torch.Generator().manual_seed(5))
    assert linear_probe(x, y, noise, yt, 4) < 0.5


def test_linear_probe_is_deterministic_under_a_seed() -> None:
    x, y = blobs(200, 8, 4, seed=0, spread=3.0)
    xt, yt = blobs(100, 8, 4, seed=1, spread=3.0)
    assert linear_probe(x, y, xt, yt, 4, seed=3) == linear_probe(x, y, xt, yt, 4, seed=3)


def test_online_probe_learns_and_refuses_one_class() -> None:
    x, y = blobs(256, 8, 4, seed=0)
    probe = OnlineProbe(8, 4, lr=1e-2)
    for _ in range(200):
        probe.update(x, y)
    assert probe.accuracy(*blobs(100, 8, 4, seed=2)) > 0.95
    with pytest.raises(ValueError, match="at least 2 classes"):
        OnlineProbe(8, 1)


def test_diagnostics_tell_collapse_from_spread() -> None:
    g = torch.Generator().manual_seed(0)
    spread = torch.randn(512, 32, generator=g)
    collapsed = torch.ones(512, 32) + 1e-4 * torch.randn(512, 32, generator=g)
    assert embedding_std(spread) == pytest.approx(32 ** -0.5, rel=0.1)
    assert embedding_std(collapsed) < 1e-3
    assert rankme(spread) > 25 and rankme(collapsed) < 1.5
    assert alignment(spread, spread) == 0 and alignment(spread, -spread) == pytest.approx(4.0)
    assert uniformity(spread) < uniformity(collapsed)
    assert collapse_warning(float(embedding_std(collapsed)), 32, float(rankme(collapsed))) is not None
    assert collapse_warning(float(embedding_std(spread)), 32, float(rankme(spread))) is None


def tiny_experiment(*extra: str) -> config.Experiment:
    return config.from_overrides([*TINY, "eval.every=3", "eval.max_examples=32", "eval.bank_size=64", *extra])


def run_tiny(tmp_path: Path, name: str, *extra: str) -> dict:
    run = create_run(tmp_path, name)
    train(tiny_experiment(*extra), run, lambda: False, lambda step, device: None)
    return load_checkpoint(run.checkpoint_dir / "last.pt")


def test_online_probe_cannot_change_the_encoder(tmp_path: Path) -> None:
    on = run_tiny(tmp_path, "on", "eval.online_probe=true")
    off = run_tiny(tmp_path, "off", "eval.online_probe=false", "eval.every=0")
    for key, value in on["model"].items():
        assert torch.equal(value, off["model"][key]), f"{key} differs with the probe and evaluation on"


def test_monitoring_is_logged_during_training(tmp_path: Path) -> None:
    run = create_run(tmp_path, "m")
    train(tiny_experiment(), run, lambda: False, lambda step, device: None)
    records = [r for r in run.metrics() if "knn_acc" in r]
    assert [r["step"] for r in records] == [3, 6]
    for r in records:
        assert 0 <= r["knn_acc"] <= 1 and 0 <= r["probe_acc"] <= 1 and r["rankme"] >= 1
        assert {"emb_std", "align", "uniform", "eval_loss", "eval_pos_acc"} <= set(r)


class Flat(Encoder):
    """A linear encoder of flat vectors, enough to check end-to-end training."""

    def __init__(self, d: int, out: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(d, out)
        self.out_dim = out

    def forward(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def test_end_to_end_training_learns_and_leaves_the_encoder_alone() -> None:
    x, y = blobs(256, 8, 4, seed=0)
    xt, yt = blobs(64, 8, 4, seed=1)
    data = Dataset({"x": x}, {"x": xt}, y, yt, info={"num_classes": 4})
    torch.manual_seed(0)
    encoder = Flat(8, 16)
    before = copy.deepcopy(encoder.state_dict())
    schedule = config.TrainConfig(steps=60, batch_size=32, lr=0.01, warmup_steps=5)
    acc = train_end_to_end(encoder, data, torch.arange(256), 4, schedule, seed=0)
    assert acc == 1.0
    assert all(torch.equal(v, encoder.state_dict()[k]) for k, v in before.items())
    assert train_end_to_end(encoder, data, torch.arange(256), 4, schedule, seed=0) == acc, "deterministic"
    unlabelled = Dataset({"x": x}, {"x": xt}, None, None)
    with pytest.raises(ValueError, match="labelled"):
        train_end_to_end(encoder, unlabelled, torch.arange(256), 4, schedule, seed=0)


def accuracies(record: dict) -> dict[str, float]:
    return {k: v["accuracy"] for k, v in record.items() if isinstance(v, dict) and "accuracy" in v}


def test_evaluation_without_fractions_with_baselines_and_shown(tmp_path: Path) -> None:
    exp = tiny_experiment()
    run = prepare(exp, tmp_path)
    train(exp, run, lambda: False, lambda step, device: None)
    record = evaluate_run(run, "cpu", fractions=(), supervised=True, random_init=True, log=lambda line: None)
    assert "finetune" not in record
    assert record["supervised"]["steps"] == exp.train.steps and record["supervised"]["augmentation"] == "none"
    for key in ("linear_probe", "knn", "raw_linear_probe", "random_init_linear_probe", "supervised"):
        assert 0.0 <= record[key]["accuracy"] <= 1.0, key
    for key in ("linear_probe", "raw_linear_probe", "random_init_linear_probe"):
        assert record[key]["l2"] in probes.L2_GRID, (key, record[key])
    json.dumps(record)                                   # eval.json holds plain numbers only
    again = evaluate_run(run, "cpu", fractions=(), supervised=True, random_init=True, log=lambda line: None)
    assert accuracies(again) == accuracies(record), "deterministic under the seed"
    run.save_evaluation(record)
    shown = CliRunner().invoke(cli.app, ["show", run.id, "--runs-dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert re.search(rf"eval\.supervised +{record['supervised']['accuracy']:.3f}\n", shown.output), shown.output


def test_finetune_compares_pretrained_and_untrained_encoders_on_one_protocol(tmp_path: Path) -> None:
    exp = tiny_experiment()
    run = prepare(exp, tmp_path)
    train(exp, run, lambda: False, lambda step, device: None)
    record = evaluate_run(run, "cpu", fractions=(0.5,), log=lambda line: None)
    exp_, data, objective, _ = restore(run, torch.device("cpu"))
    assert finetune(objective.encoder, exp_, data, (0.5,)) == record["finetune"], "the protocol evaluate_run uses"
    a, b = (untrained_encoder(exp_, data, torch.device("cpu")) for _ in range(2))
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items()), "seeded initial weights"
    assert not all(torch.equal(v, objective.encoder.state_dict()[k]) for k, v in a.state_dict().items())
    scratch = finetune(a, exp_, data, (0.5,))
    assert scratch["50%"]["labels"] == record["finetune"]["50%"]["labels"]
