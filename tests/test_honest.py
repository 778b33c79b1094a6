"""Issue 17's honest measurements: both InfoNCE forms against hand-written formulas, clean targets, chance warnings."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sslterm import catalog, config, health
from sslterm.augment import Pipeline
from sslterm.data import Dataset
from sslterm.models import build_encoder
from sslterm.objectives import Context, Objective, build_objective
from sslterm.objectives.infonce import chance_loss, info_nce
from sslterm.store import read_status
from sslterm.train.monitor import Monitor
from tests.conftest import ROOT, prepare_run, sslterm

torch.set_num_threads(1)


def unit(v: torch.Tensor) -> list[list[float]]:
    rows = v.tolist()
    return [[x / math.sqrt(sum(y * y for y in r)) for x in r] for r in rows]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def ref_both_views(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """SimCLR's NT-Xent written out: 2B anchors, each against the 2B − 1 others."""
    u, b = unit(torch.cat([z1, z2])), z1.shape[0]
    total = 0.0
    for i in range(2 * b):
        pos = (i + b) % (2 * b)
        denom = sum(math.exp(dot(u[i], u[k]) / tau) for k in range(2 * b) if k != i)
        total -= math.log(math.exp(dot(u[i], u[pos]) / tau) / denom)
    return total / (2 * b)


def ref_cross_view(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """The design's form written out: logits = z1·z2ᵀ/τ, cross-entropy on the diagonal, both directions."""
    a, c, b = unit(z1), unit(z2), z1.shape[0]
    rows = cols = 0.0
    for i in range(b):
        rows -= math.log(math.exp(dot(a[i], c[i]) / tau) / sum(math.exp(dot(a[i], c[k]) / tau) for k in range(b)))
        cols -= math.log(math.exp(dot(a[i], c[i]) / tau) / sum(math.exp(dot(a[k], c[i]) / tau) for k in range(b)))
    return (rows + cols) / (2 * b)


@pytest.mark.parametrize(("negatives", "ref"), [("both_views", ref_both_views), ("cross_view", ref_cross_view)])
def test_info_nce_forms_match_their_formulas(negatives: str, ref: object) -> None:
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    loss, acc = info_nce(z1, z2, 0.3, negatives)
    assert float(loss) == pytest.approx(ref(z1, z2, 0.3), rel=1e-5)  # type: ignore[operator]
    assert 0.0 <= float(acc) <= 1.0


def test_the_two_forms_differ_and_sit_at_their_chance_levels_when_nothing_is_told_apart() -> None:
    g = torch.Generator().manual_seed(4)
    z1, z2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    assert float(info_nce(z1, z2, 0.3, "both_views")[0]) != pytest.approx(float(info_nce(z1, z2, 0.3, "cross_view")[0]))
    same = torch.ones(6, 4)                                      # every embedding alike: chance
    assert float(info_nce(same, same, 0.3, "both_views")[0]) == pytest.approx(chance_loss(6, "both_views"))
    assert float(info_nce(same, same, 0.3, "cross_view")[0]) == pytest.approx(chance_loss(6, "cross_view"))
    assert chance_loss(6, "both_views") == pytest.approx(math.log(11))
    assert chance_loss(6, "cross_view") == pytest.approx(math.log(6))


def test_negatives_is_declared_with_both_forms_and_refuses_others() -> None:
    p = catalog.get("objective", "infonce").param("negatives")
    assert p is not None and p.choices == ("both_views", "cross_view") and p.default == "both_views"
    assert "2N−2" in p.help and "N−1" in p.help
    with pytest.raises(ValueError, match="both_views, cross_view"):
        info_nce(torch.randn(3, 2), torch.randn(3, 2), 0.3, "all")


# ---- objectives whose targets are the input: clean targets, clean held-out metrics --------------

TEXT_AUG = {"span_crop": {"min_fraction": 0.5}, "token_deletion": {"p": 0.3},
            "span_masking": {"fraction": 0.3, "spans": 2}}
W = 12                                                           # tokens per window


def text_stream(n: int = 200, seed: int = 0) -> torch.Tensor:
    """Held-out-like bytes [n]: lowercase letters and spaces."""
    g = torch.Generator().manual_seed(seed)
    return torch.tensor(list(b"abcdefgh ")).index_select(0, torch.randint(0, 9, (n,), generator=g)).to(torch.uint8)


def windowed(train_bytes: int = 300, eval_bytes: int = 100) -> Dataset:
    info = {"vocab_size": 258, "seq_len": W, "num_classes": 0, "bytes_per_token": 1.0}
    return Dataset({"x": text_stream(train_bytes, 1)}, {"x": text_stream(eval_bytes, 2)}, None, None, (), info,
                   window=W)


def next_token(data: Dataset) -> Objective:
    torch.manual_seed(0)
    enc = build_encoder("transformer", data.info, {"dim": 16, "depth": 1, "heads": 2})
    opts = {**catalog.get("objective", "next_token").defaults(), "head_hidden": 0}
    return build_objective("next_token", Context(enc, data.info, 16, 8), opts).eval()


def experiment(*extra: str) -> config.Experiment:
    return config.from_overrides(["data.modality=text", "objective.name=next_token", "train.batch_size=3",
                                  "eval.max_examples=1000", *extra])


def test_pipeline_keeps_targets_clean_views_shared_deletion_left_out() -> None:
    batch = {"x": torch.randint(2, 12, (6, W), generator=torch.Generator().manual_seed(5))}
    pipe = Pipeline(TEXT_AUG)
    target, corrupted = pipe.with_clean_targets(batch, torch.Generator().manual_seed(0))
    assert pipe.skipped_for_targets() == ("token_deletion",)
    assert not (target["x"] == 1).any(), "no MASK in the targets"
    kept = target["x"] != 0
    assert kept.sum(1).lt(W).any(), "the crop (a view) applies to the targets too"
    for row, t in zip(batch["x"].tolist(), target["x"].tolist(), strict=True):
        real = [v for v in t if v]
        assert any(row[i:i + len(real)] == real for i in range(W)), "a target is a contiguous span of the input"
    changed = corrupted["x"] != target["x"]
    assert changed.any() and (corrupted["x"][changed] == 1).all(), "the input differs from the target by MASK only"


@pytest.mark.parametrize("name", ["next_token", "masked", "inpainting"])
def test_training_targets_are_the_clean_input(name: str) -> None:
    data = windowed()
    enc = build_encoder("transformer", data.info, {"dim": 16, "depth": 1, "heads": 2})
    obj = build_objective(name, Context(enc, data.info, 16, 8), catalog.get("objective", name).defaults())
    seen: list[torch.Tensor] = []
    real = enc.token_targets

    def recorded(x: torch.Tensor, **rest: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return real(x, **rest)

    enc.token_targets = recorded  # type: ignore[method-assign]
    batch = data.batch("train", torch.arange(4))
    obj(batch, Pipeline({"span_masking": {"fraction": 0.5, "spans": 1}, "token_dropout": {"p": 0.5}}),
        torch.Generator().manual_seed(0))
    assert len(seen) == 1 and torch.equal(seen[0], batch["x"]), "targets taken from the unaugmented batch"


def test_held_out_bits_are_the_same_with_augmentations_on_or_off() -> None:
    data = windowed()
    obj = next_token(data)
    exp = experiment()
    on = Monitor(exp, data, obj, Pipeline(TEXT_AUG), torch.device("cpu")).evaluate()
    off = Monitor(exp, data, obj, Pipeline({}), torch.device("cpu")).evaluate()
    assert float(on["eval_bits_per_byte"]) == pytest.approx(float(off["eval_bits_per_byte"]), rel=1e-6)
    assert float(on["eval_loss"]) == pytest.approx(float(off["eval_loss"]), rel=1e-6)


def test_held_out_bits_per_byte_count_every_held_out_byte() -> None:
    """A unigram model (head weights 0, bias log p): bits are the mean of −log2 p over bytes 1..T−1."""
    data = windowed(eval_bytes=100)                               # 9 windows of 12 sharing one byte each
    obj = next_token(data)
    head = obj.head
    assert isinstance(head, torch.nn.Linear)
    logp = torch.log_softmax(torch.randn(258, generator=torch.Generator().manual_seed(7)), 0)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(logp)
    stream = data.eval["x"].long() + 2                            # token ids of the held-out bytes
    hand = sum(-float(logp[t]) / math.log(2) for t in stream[1:].tolist()) / (len(stream) - 1)
    got = Monitor(experiment("train.batch_size=4"), data, obj, Pipeline({}), torch.device("cpu")).evaluate()
    assert data.size("eval") == 9
    assert float(got["eval_bits_per_byte"]) == pytest.approx(hand, rel=1e-5)


# ---- plain-words warnings: a loss at chance, a spread far below 1/√d ------------------------------

def records(losses: list[float], chance: float = math.log(31)) -> list[dict[str, float]]:
    return [{"step": i + 1, "loss": v, "chance_loss": chance} for i, v in enumerate(losses)]


def test_a_loss_at_its_chance_value_for_five_logs_is_a_warning() -> None:
    c = math.log(31)
    assert health.chance_warning(records([c] * 4)) is None, "four logs are not yet many"
    assert health.chance_warning(records([c, c, c - 0.5, c, c])) is None, "one log below chance: it learns"
    said = health.chance_warning(records([c + 0.01, c, c, c - 0.01, c]))
    assert said is not None and said.startswith("not learning") and "3.43" in said and "step 5" in said
    assert health.chance_warning([{"step": i, "loss": 3.4} for i in range(9)]) is None, "no chance value: no judgement"


def test_a_spread_far_below_the_healthy_one_is_a_collapse_in_plain_words() -> None:
    healthy = 128 ** -0.5                                          # 0.088
    said = health.collapse_warning(0.015, 128, 40.0)               # the 0.015: was only 'at risk'
    assert said is not None and said.startswith("collapsing") and "far below" in said
    assert health.training_warning({"emb_std": 0.015, "emb_dim": 128, "rankme": 40.0}, []) == said
    assert health.training_warning({"emb_std": 0.015, "emb_dim": 128, "rankme": 40.0}, [], collapse=False) is None
    at_risk = health.collapse_warning(0.28 * healthy, 128, 40.0)
    assert at_risk is not None and at_risk.startswith("at risk")
    assert health.training_warning({"emb_std": 0.28 * healthy, "emb_dim": 128, "rankme": 40.0}, []) is None


def test_a_low_spread_with_a_loss_far_below_chance_is_narrow_features_not_a_collapse() -> None:
    narrow = {"emb_std": 0.0306, "emb_dim": 64, "rankme": 9.9}    # text InfoNCE on code lines: kNN 0.60 of 5 classes
    assert (health.representation_warning(narrow) or "").startswith("collapsing")  # no loss logged: the spread alone
    learning = {**narrow, "loss": 2.77, "chance_loss": 5.54}
    said = health.representation_warning(learning)
    assert said is not None and said.startswith("at risk") and "tells the examples apart" in said
    assert health.training_warning(learning, []) is None           # the status carries no collapse
    at_chance = {**narrow, "loss": 5.50, "chance_loss": 5.54}      # the case: spread low and loss at chance
    assert (health.training_warning(at_chance, []) or "").startswith("collapsing")


def test_a_run_whose_loss_stays_at_chance_says_so_in_its_status_and_show(runs: Path) -> None:
    run_dir = prepare_run(runs, "objective.name=infonce", "objective.temperature=10", "train.lr=1e-9",
                          "train.steps=8", "train.log_every=1", "train.warmup_steps=0", "eval.every=0")
    worker = subprocess.run([sys.executable, "-m", "sslterm.worker", str(run_dir)], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert (read_status(run_dir).warning or "").startswith("not learning: the loss stayed at its chance value 3.43")
    shown = sslterm("show", run_dir.name, runs=runs)
    assert shown.returncode == 0 and "warning: not learning" in shown.stdout, shown.stdout


@pytest.mark.parametrize(("name", "chance"), [("rotation", math.log(4)), ("temporal_order", math.log(6))])
def test_classification_pretexts_log_their_chance_loss(name: str, chance: float) -> None:
    data = windowed() if name == "temporal_order" else None
    if data is None:
        info = {"channels": 3, "image_size": 16, "num_classes": 0}
        enc = build_encoder("cnn", info, catalog.get("encoder", "cnn").defaults())
        batch = {"x": torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))}
    else:
        info = data.info
        enc = build_encoder("transformer", info, {"dim": 16, "depth": 1, "heads": 2})
        batch = data.batch("train", torch.arange(4))
    obj = build_objective(name, Context(enc, info, 16, 8), catalog.get("objective", name).defaults())
    _, metrics = obj(batch, lambda b, g: b, torch.Generator().manual_seed(0))
    assert float(metrics["chance_loss"]) == pytest.approx(chance)
