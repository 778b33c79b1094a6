"""Varied data shapes per modality train with settings derived from the data; what is left out is said."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sslterm import catalog, config
from sslterm.data import build_dataset
from sslterm.launch import prepare
from sslterm.models import build_encoder
from sslterm.objectives import Context, build_objective
from sslterm.store import Run
from sslterm.store.runs import CONFIG
from sslterm.tui.hints import auto_notes

SMALL = ("model.projector_hidden=16", "model.projector_dim=8", "train.batch_size=8", "train.steps=2",
         "train.log_every=1", "train.warmup_steps=1", "train.threads=1", "train.checkpoint_every=100",
         "train.snapshot_every=100", "eval.every=0", "eval.probe_batch=4")
RNG = np.random.default_rng(0)


def _signals(p: Path, length: int) -> Path:
    np.savez(p, x=RNG.normal(0, 0.3, (24, length)).astype(np.float32), y=np.arange(24) % 2)
    return p


def _images(p: Path, side: int) -> Path:
    np.savez(p, x=RNG.integers(0, 255, (24, 3, side, side), dtype=np.uint8), y=np.arange(24) % 2)
    return p


def _clips(p: Path, frames: int, side: int) -> Path:
    np.savez(p, x=RNG.integers(0, 255, (24, frames, 3, side, side), dtype=np.uint8), y=np.arange(24) % 2)
    return p


def _text(p: Path, line: int) -> Path:
    words = ["alpha", "beta", "gamma", "delta"]
    p.write_text("\n".join(" ".join(RNG.choice(words, max(1, line // 6))) for _ in range(4000 // line + 40)))
    return p


def _graphs(p: Path, nodes: int) -> Path:
    adj = np.zeros((24, nodes, nodes), np.float32)
    for i in range(nodes - 1):                                        # a path, and a few random edges
        adj[:, i, i + 1] = adj[:, i + 1, i] = 1
    np.savez(p, adj=adj, y=np.arange(24) % 2)
    return p


CASES: list[tuple[str, str, str, Callable[[Path], Path]]] = [
    ("audio", "infonce", "short", lambda d: _signals(d / "a.npz", 40)),
    ("audio", "masked", "short", lambda d: _signals(d / "a.npz", 40)),
    ("audio", "next_token", "short", lambda d: _signals(d / "a.npz", 40)),       # mel_transformer: 5 frames
    ("audio", "infonce", "long", lambda d: _signals(d / "a.npz", 64000)),
    ("image", "infonce", "tiny", lambda d: _images(d / "i.npz", 8)),
    ("image", "masked", "tiny", lambda d: _images(d / "i.npz", 8)),
    ("image", "infonce", "large", lambda d: _images(d / "i.npz", 256)),
    ("text", "next_token", "short", lambda d: _text(d / "t.txt", 8)),
    ("text", "masked", "long", lambda d: _text(d / "t.txt", 2000)),
    ("graph", "infonce", "small", lambda d: _graphs(d / "g.npz", 3)),
    ("graph", "infonce", "large", lambda d: _graphs(d / "g.npz", 200)),
    ("video", "temporal_order", "short", lambda d: _clips(d / "v.npz", 2, 8)),
    ("video", "infonce", "long", lambda d: _clips(d / "v.npz", 16, 32)),
]


@pytest.mark.parametrize(("modality", "objective", "shape", "make"), CASES,
                         ids=[f"{m}-{o}-{s}" for m, o, s, _ in CASES])
def test_every_shape_trains_two_steps_with_auto_settings(tmp_path: Path, modality: str, objective: str, shape: str,
                                                         make: Callable[[Path], Path]) -> None:
    from sslterm.train.loop import train

    path = make(tmp_path)
    exp = config.from_overrides([f"data.modality={modality}", f"objective.name={objective}", f"data.path={path}",
                                 *SMALL])
    run = prepare(exp, tmp_path / "runs")
    outcome = train(config.load(run.path / CONFIG), Run(run.path), lambda: False, lambda step, device: None)
    assert outcome.step == 2
    resolved = config.load(run.path / CONFIG)
    assert resolved.auto and all(resolved.auto.values()), resolved.auto      # every auto setting decided
    assert all(r.startswith("auto: ") for r in resolved.auto.values())


def test_the_catalog_says_which_objectives_targets_are_their_input() -> None:
    """The catalog's flag is the one place: every built objective carries it, and it names these three."""
    from sslterm import rules

    said = {name for name in catalog.names("objective") if rules.targets_are_input(name)}
    assert said == {"next_token", "masked", "inpainting"}
    exp = config.from_overrides(["data.modality=text", "data.num_samples=256", "data.num_eval=64"])
    data = build_dataset(exp.data.dataset, exp.data.options)
    for name in catalog.names("objective"):
        if "text" not in catalog.get("objective", name).modalities:
            continue
        ctx = Context(build_encoder(exp.model.encoder, data.info, exp.model.options), data.info)
        built = build_objective(name, ctx, catalog.get("objective", name).defaults())
        assert built.targets_are_input == (name in said), name


def test_augmentations_that_targets_would_leave_out_are_no_default_and_said_when_asked_for(tmp_path: Path) -> None:
    from sslterm.train.loop import train

    text = f"data.path={_text(tmp_path / 't.txt', 40)}"
    by_default = config.from_overrides(["data.modality=text", "objective.name=next_token", text, *SMALL])
    assert "token_deletion" not in by_default.augment and "span_masking" in by_default.augment  # nothing to say
    assert "token_deletion" in config.from_overrides(["data.modality=text", text, *SMALL]).augment  # infonce keeps it
    assert not any("not applied" in n for ns in auto_notes(by_default).values() for n in ns)
    exp = config.from_overrides(["data.modality=text", "objective.name=next_token", text,
                                 "augment.token_deletion.p=0.1", *SMALL])  # asked for: kept in the config, said
    assert "token_deletion" in exp.augment
    notes = auto_notes(exp)
    assert any("augment.token_deletion not applied: next_token's targets" in n for n in notes["augment.token_deletion"])
    seq_len = notes["data.seq_len"][0]
    assert seq_len.startswith("auto: ") and "-byte examples (95th percentile)" in seq_len
    said: list[str] = []
    run = prepare(exp, tmp_path / "runs")
    train(config.load(run.path / CONFIG), Run(run.path), lambda: False, lambda step, device: None,
          on_warning=said.append)
    assert len(said) == 1 and said[0].startswith("augment.token_deletion not applied: next_token's targets")
    contrastive = config.from_overrides(["data.modality=text", "objective.name=infonce"])
    assert not any("not applied" in n for ns in auto_notes(contrastive).values() for n in ns)


def test_probe_beats_raw_inputs_on_short_separable_signals_with_no_set(tmp_path: Path) -> None:
    """The issue's case, small: short labelled signals separable by frequency, the default contrastive run."""
    from sslterm.evaluate.transfer import evaluate_run
    from sslterm.train.loop import train

    n, length = 240, 64
    y = RNG.integers(0, 4, n)
    freq = np.array([0.06, 0.1, 0.15, 0.21])[y] * (1 + 0.05 * RNG.normal(size=n))
    x = np.sin(2 * np.pi * freq[:, None] * np.arange(length) + RNG.uniform(0, 6.3, (n, 1)))
    x = RNG.uniform(0.2, 1, (n, 1)) * x + 0.3 * RNG.normal(size=(n, length))
    np.savez(tmp_path / "s.npz", x=(x / 3).astype(np.float32), y=y)
    exp = config.from_overrides(["data.modality=audio", f"data.path={tmp_path / 's.npz'}", "train.steps=10",
                                 "train.batch_size=64", "train.threads=2", "eval.every=0"])
    run = prepare(exp, tmp_path / "runs")
    train(config.load(run.path / CONFIG), Run(run.path), lambda: False, lambda step, device: None)
    result = evaluate_run(Run(run.path), "cpu", fractions=(), log=lambda *a: None)
    assert result["linear_probe"]["accuracy"] > result["raw_linear_probe"]["accuracy"] + 0.15, result


def test_the_launcher_notes_auto_values_on_own_data_or_where_they_differ_from_the_default(tmp_path: Path) -> None:
    assert auto_notes(config.from_overrides([])) == {}                    # built-in shapes: the defaults, no notes
    assert auto_notes(config.from_overrides(["data.image_size=64"])) == {
        "model.stages": ["auto: 4, a 4×4 map from 64-px images"]}
    own = auto_notes(config.from_overrides(["data.modality=audio", f"data.path={_signals(tmp_path / 's.npz', 40)}"]))
    assert own["model.layers"] == ["auto: 3, 5 positions of 8 samples from 40-sample clips"]
    assert own["data.clip_seconds"] == ["auto: 0.0025 s = 40 samples, the signals' own length"]
