"""Unit tests of the pretext objectives: losses against slow references, invariances, EMA teachers, learning."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sslterm import catalog
from sslterm.augment import Pipeline
from sslterm.models import Encoder, build_encoder
from sslterm.models.transformer import TransformerStack, masked_mean
from sslterm.objectives import Context, Objective, build_objective
from sslterm.objectives.barlow_twins import barlow_twins_loss
from sslterm.objectives.byol import byol_loss
from sslterm.objectives.dino import dino_loss, teacher_temperature
from sslterm.objectives.ema import cosine_momentum
from sslterm.objectives.infonce import info_nce
from sslterm.objectives.next_token import NextToken
from sslterm.objectives.rotation import rotate_batch, rotation_views
from sslterm.objectives.temporal_order import (
    inverse_order,
    order_views,
    permutation_table,
    permute_segments,
    segment_rows,
    with_gaps,
)
from sslterm.objectives.tokens import block_mask, prediction_loss, random_token_mask, target_size
from sslterm.objectives.vicreg import vicreg_terms

torch.set_num_threads(1)
IDENTITY = lambda b, g: b  # noqa: E731  (an augmentation that changes nothing)


# ---- tiny encoders implementing the token contract ----------------------------------------

class TinyText(Encoder):
    """Token ids [B, L] → embedding + positions → transformer; discrete targets, causal mode."""

    def __init__(self, vocab: int = 12, length: int = 8, dim: int = 16) -> None:
        super().__init__()
        self.out_dim = self.token_dim = dim
        self.target_vocab, self.token_grid = vocab, (length,)
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(length, dim) * 0.1)
        self.stack = TransformerStack(dim, depth=1, heads=2)

    def tokens(self, x: torch.Tensor, causal: bool = False, **_: torch.Tensor) -> torch.Tensor:
        return self.stack(self.emb(x) + self.pos[: x.shape[1]], causal=causal)

    def forward(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return masked_mean(self.tokens(x), self.valid_tokens(x))

    def token_targets(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return x

    def hide(self, x: torch.Tensor, mask: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return x.masked_fill(mask, 1)

    def valid_tokens(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return x != 0


class TinyFrames(Encoder):
    """Waveforms [B, L] cut into frames of 4 samples; a linear frame encoder plus a (causal) running context."""

    target_dim, token_grid = 4, (8,)                                       # waveforms of 32 samples

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.out_dim = self.token_dim = dim
        self.proj, self.mix = nn.Linear(4, dim), nn.Linear(dim, dim)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], -1, 4)

    def tokens(self, x: torch.Tensor, causal: bool = False, **_: torch.Tensor) -> torch.Tensor:
        e = self.proj(self.frames(x))                                       # [B, T, D]
        if causal:
            ctx = e.cumsum(1) / torch.arange(1, e.shape[1] + 1).view(1, -1, 1)
        else:
            ctx = e.mean(1, keepdim=True).expand_as(e)
        return torch.tanh(e + self.mix(ctx))

    def forward(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return self.tokens(x).mean(1)

    def token_targets(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return self.frames(x)

    def hide(self, x: torch.Tensor, mask: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return (self.frames(x) * (~mask).unsqueeze(-1)).flatten(1)


def cnn() -> Encoder:
    return build_encoder("cnn", {"channels": 3, "image_size": 16},
                         {"width": 4, "stages": 2, "blocks": 1, "stem_stride": 2})


CNN_INFO = {"channels": 3, "image_size": 16}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def text_batch(b: int = 6, length: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    return {"x": torch.randint(2, 12, (b, length), generator=gen(seed))}


def image_batch(b: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    return {"x": torch.rand(b, 3, 16, 16, generator=gen(seed))}


def wave_batch(b: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    t = torch.linspace(0, 1, 32)
    freq = torch.rand(b, 1, generator=gen(seed)) * 6 + 1
    return {"x": torch.sin(2 * math.pi * freq * t) + 0.05 * torch.randn(b, 32, generator=gen(seed + 1))}


def make(name: str, encoder: Encoder, info: dict[str, Any] | None = None, **options: Any) -> Objective:
    opts = {**catalog.get("objective", name).defaults(), **options}
    return build_objective(name, Context(encoder, info or {}, 32, 16), opts)


# ---- two-view losses against slow references -------------------------------------------------

def ref_vicreg(z1: torch.Tensor, z2: torch.Tensor) -> tuple[float, float, float]:
    b, d = z1.shape
    inv = sum(float((z1[i, j] - z2[i, j]) ** 2) for i in range(b) for j in range(d)) / (b * d)

    def var_cov(z: torch.Tensor) -> tuple[float, float]:
        mean = [sum(float(z[n, j]) for n in range(b)) / b for j in range(d)]
        cov = [[sum((float(z[n, i]) - mean[i]) * (float(z[n, j]) - mean[j]) for n in range(b)) / (b - 1)
                for j in range(d)] for i in range(d)]
        v = sum(max(0.0, 1.0 - math.sqrt(cov[j][j] + 1e-4)) for j in range(d)) / d
        c = sum(cov[i][j] ** 2 for i in range(d) for j in range(d) if i != j) / d
        return v, c

    (v1, c1), (v2, c2) = var_cov(z1), var_cov(z2)
    return inv, (v1 + v2) / 2, c1 + c2


def test_vicreg_terms_match_reference_and_are_symmetric() -> None:
    z1, z2 = torch.randn(6, 5, generator=gen(1)) * 0.5, torch.randn(6, 5, generator=gen(2)) * 0.5
    terms = vicreg_terms(z1, z2)
    for got, want in zip(terms, ref_vicreg(z1, z2), strict=True):
        assert got.item() == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert terms[1] > 0 and terms[2] > 0                                   # both terms active at this scale
    for a, b in zip(terms, vicreg_terms(z2, z1), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_barlow_twins_matches_reference_and_is_symmetric() -> None:
    z1, z2 = torch.randn(7, 4, generator=gen(3)), torch.randn(7, 4, generator=gen(4))
    b, d = z1.shape

    def standardise(z: torch.Tensor) -> list[list[float]]:
        cols = []
        for j in range(d):
            col = [float(z[n, j]) for n in range(b)]
            m = sum(col) / b
            s = math.sqrt(sum((v - m) ** 2 for v in col) / b + 1e-5)
            cols.append([(v - m) / s for v in col])
        return cols

    a1, a2 = standardise(z1), standardise(z2)
    c = [[sum(a1[i][n] * a2[j][n] for n in range(b)) / b for j in range(d)] for i in range(d)]
    want = sum((1 - c[i][i]) ** 2 for i in range(d)) + 5e-3 * sum(
        c[i][j] ** 2 for i in range(d) for j in range(d) if i != j)
    assert barlow_twins_loss(z1, z2).item() == pytest.approx(want, rel=1e-5)
    assert torch.allclose(barlow_twins_loss(z1, z2), barlow_twins_loss(z2, z1), atol=1e-6)


def test_byol_loss_matches_reference_and_is_symmetric() -> None:
    p1, p2, z1, z2 = (torch.randn(5, 6, generator=gen(i)) for i in range(4))

    def half(p: torch.Tensor, z: torch.Tensor) -> float:
        total = 0.0
        for i in range(p.shape[0]):
            pn, zn = p[i] / p[i].norm(), z[i] / z[i].norm()
            total += float(((pn - zn) ** 2).sum())
        return total / p.shape[0]

    assert byol_loss(p1, p2, z1, z2).item() == pytest.approx(half(p1, z2) + half(p2, z1), rel=1e-5)
    assert torch.allclose(byol_loss(p1, p2, z1, z2), byol_loss(p2, p1, z2, z1))


def test_dino_loss_matches_reference_with_centring_and_is_symmetric() -> None:
    s1, s2, t1, t2 = (torch.randn(4, 5, generator=gen(10 + i)) for i in range(4))
    c = torch.randn(5, generator=gen(20))

    def h(t: torch.Tensor, s: torch.Tensor) -> float:
        total = 0.0
        for i in range(t.shape[0]):
            et = [math.exp((float(t[i, k]) - float(c[k])) / 0.04) for k in range(5)]
            es = [math.exp(float(s[i, k]) / 0.1) for k in range(5)]
            total -= sum(et[k] / sum(et) * math.log(es[k] / sum(es)) for k in range(5))
        return total / t.shape[0]

    got = dino_loss(s1, s2, t1, t2, c, 0.1, 0.04)
    assert got.item() == pytest.approx(0.5 * (h(t1, s2) + h(t2, s1)), rel=1e-5)
    assert torch.allclose(got, dino_loss(s2, s1, t2, t1, c, 0.1, 0.04))


def test_batch_statistics_methods_refuse_a_batch_of_one() -> None:
    z = torch.randn(1, 4)
    for fn in (vicreg_terms, barlow_twins_loss):
        with pytest.raises(ValueError, match="at least 2"):
            fn(z, z)
    with pytest.raises(ValueError, match="at least 2"):
        info_nce(z, z, 0.1)


# ---- EMA teachers -------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "pairs"), [
    ("byol", (("target_encoder", "encoder"), ("target_projector", "projector"))),
    ("dino", (("teacher_encoder", "encoder"), ("teacher_head", "head"))),
])
def test_ema_teacher_gets_no_gradient_and_follows_the_momentum_rule(name: str, pairs: tuple) -> None:
    obj = make(name, cnn(), momentum=0.9)
    teacher_ids = {id(p) for t, _ in pairs for p in getattr(obj, t).parameters()}
    assert teacher_ids and not teacher_ids & {id(p) for p in obj.trainable()}
    opt = torch.optim.SGD(list(obj.trainable()), lr=0.5)
    loss, metrics = obj(image_batch(), IDENTITY, gen())
    assert loss.dim() == 0 and all(v.dim() == 0 for v in metrics.values())
    loss.backward()
    for t, _ in pairs:
        assert all(p.grad is None for p in getattr(obj, t).parameters())
    opt.step()
    before = {t: [p.clone() for p in getattr(obj, t).parameters()] for t, _ in pairs}
    obj.after_step(3, 10)
    tau = cosine_momentum(3, 10, 0.9)
    assert 0.9 < tau < 1 and obj.momentum == tau
    for t, s in pairs:
        student = list(getattr(obj, s).parameters())
        for old, new, sp in zip(before[t], getattr(obj, t).parameters(), student, strict=True):
            assert torch.allclose(new, tau * old + (1 - tau) * sp, atol=1e-6)
    teacher = getattr(obj, pairs[0][0]).parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before[pairs[0][0]], teacher, strict=True))


def test_cosine_momentum_schedule_ends() -> None:
    assert cosine_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert cosine_momentum(50, 100, 0.99) == pytest.approx(0.995)
    assert cosine_momentum(100, 100, 0.99) == 1.0


def test_dino_centre_is_an_ema_of_teacher_outputs_and_entropy_is_logged() -> None:
    obj = make("dino", cnn(), out_dim=8, center_momentum=0.8)
    batch = image_batch()
    with torch.no_grad():
        t = obj.teacher_head(obj.teacher_encoder(torch.cat([batch["x"], batch["x"]])))
    _, metrics = obj(batch, IDENTITY, gen())
    assert torch.allclose(obj.center, 0.2 * t.mean(0), atol=1e-5)
    assert 0 <= metrics["teacher_entropy"].item() <= math.log(8) + 1e-5
    centre = obj.center.clone()
    obj.eval()
    with torch.no_grad():
        obj(batch, IDENTITY, gen())                                        # an evaluation pass
    assert torch.equal(obj.center, centre)



def test_dino_teacher_temperature_warms_up_linearly_then_holds() -> None:
    assert teacher_temperature(0, 100, 0.04, 0.07, 0.3) == pytest.approx(0.04)
    assert teacher_temperature(15, 100, 0.04, 0.07, 0.3) == pytest.approx(0.055)
    assert teacher_temperature(30, 100, 0.04, 0.07, 0.3) == pytest.approx(0.07)
    assert teacher_temperature(90, 100, 0.04, 0.07, 0.3) == pytest.approx(0.07)
    assert teacher_temperature(0, 100, 0.04, 0.07, 0.0) == pytest.approx(0.07), "no warm-up: constant"
    obj = make("dino", cnn(), out_dim=8, warmup_teacher_temp=0.04, teacher_temp=0.07, teacher_temp_warmup=0.5)
    _, metrics = obj(image_batch(), IDENTITY, gen())
    assert metrics["teacher_temp"].item() == pytest.approx(0.04), "before the first step: the warm-up's start"
    obj.after_step(25, 100)
    assert obj.teacher_temp == pytest.approx(0.055)
    fresh = make("dino", cnn(), out_dim=8, warmup_teacher_temp=0.04, teacher_temp=0.07, teacher_temp_warmup=0.5)
    fresh.resume_at(25, 100)
    assert fresh.teacher_temp == obj.teacher_temp, "a function of the step: resume restores it"

# ---- token masks and token losses ------------------------------------------------------------

def test_random_token_mask_hides_the_ratio_of_valid_tokens_and_at_least_one() -> None:
    lengths = torch.tensor([10, 7, 1, 4])
    valid = torch.arange(10) < lengths[:, None]
    mask = random_token_mask(valid, (4, 10), 0.3, gen(), torch.device("cpu"))
    assert mask.sum(1).tolist() == [3, 2, 1, 1]
    assert not (mask & ~valid).any()
    full = random_token_mask(None, (50, 10), 0.5, gen(1), torch.device("cpu"))
    assert (full.sum(1) == 5).all() and full.float().mean(0).min() > 0     # every position gets masked


def test_block_mask_is_one_contiguous_block_of_the_grid() -> None:
    mask = block_mask((4, 6), 20, 0.25, gen(), torch.device("cpu")).view(20, 4, 6)
    for m in mask:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        assert len(rows) == 2 and len(cols) == 3 and m.sum() == 6           # round(4·0.5) × round(6·0.5)
        assert m[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
    valid = torch.arange(12) < torch.tensor([12, 8, 4])[:, None]
    spans = block_mask((12,), 3, 0.5, gen(), torch.device("cpu"), valid)
    assert spans.sum(1).tolist() == [6, 4, 2] and not (spans & ~valid).any()
    for s in spans:
        idx = s.nonzero().flatten()
        assert (idx.diff() == 1).all()


def test_prediction_loss_counts_only_selected_positions() -> None:
    pred, targets = torch.randn(3, 5, 4, generator=gen(1)), torch.randn(3, 5, 4, generator=gen(2))
    weight = torch.rand(3, 5, generator=gen(3)) < 0.5
    weight[0, 0] = True
    loss, acc = prediction_loss(pred, targets, weight)
    want = sum(float(((pred[b, t] - targets[b, t]) ** 2).mean()) for b in range(3) for t in range(5)
               if weight[b, t]) / int(weight.sum())
    assert acc is None and loss.item() == pytest.approx(want, rel=1e-5)
    changed = torch.where(weight.unsqueeze(-1), targets, float("inf"))      # unselected targets → inf
    assert torch.equal(prediction_loss(pred, changed, weight)[0], loss)
    logits, ids = torch.randn(3, 5, 7, generator=gen(4)), torch.randint(7, (3, 5), generator=gen(5))
    ce, acc = prediction_loss(logits, ids, weight)
    want = sum(float(F.cross_entropy(logits[b, t][None], ids[b, t][None])) for b in range(3) for t in range(5)
               if weight[b, t]) / int(weight.sum())
    assert ce.item() == pytest.approx(want, rel=1e-5)
    assert torch.equal(prediction_loss(logits, torch.where(weight, ids, 0), weight)[0], ce)
    assert acc is not None and 0 <= acc.item() <= 1


def test_masked_objective_loss_is_the_masked_positions_reference() -> None:
    enc = TinyText()
    obj = make("masked", enc, mask_ratio=0.4)
    batch = text_batch()
    batch["x"][0, 6:] = 0                                                   # padding: never masked, never counted
    loss, metrics = obj(batch, IDENTITY, gen(7))
    mask = random_token_mask(batch["x"] != 0, (6, 8), 0.4, gen(7), torch.device("cpu"))
    assert not mask[0, 6:].any()
    with torch.no_grad():
        logits = obj.head(enc.tokens(enc.hide(batch["x"], mask)))
    terms = [float(F.cross_entropy(logits[b, t][None], batch["x"][b, t][None]))
             for b in range(6) for t in range(8) if mask[b, t]]
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)
    assert "masked_acc" in metrics


def test_masked_prediction_of_teacher_tokens_is_the_reference_and_only_the_student_learns() -> None:
    torch.manual_seed(0)
    enc = TinyText()
    obj = make("masked", enc, mask_ratio=0.4, predict="teacher", momentum=0.5)
    assert obj.teacher is not None and obj.head(torch.zeros(1, 16)).shape == (1, 16)   # predicts token_dim
    assert all(not p.requires_grad for p in obj.teacher.parameters())
    assert {id(p) for p in obj.trainable()}.isdisjoint(id(p) for p in obj.teacher.parameters())
    batch = text_batch()
    batch["x"][0, 6:] = 0
    loss, _ = obj(batch, IDENTITY, gen(7))
    mask = random_token_mask(batch["x"] != 0, (6, 8), 0.4, gen(7), torch.device("cpu"))
    with torch.no_grad():
        pred = obj.head(enc.tokens(enc.hide(batch["x"], mask)))
        target = F.layer_norm(obj.teacher.teacher.tokens(batch["x"]), (16,))   # the clean input, whole
    assert loss.item() == pytest.approx(float(((pred - target) ** 2).mean(-1)[mask].mean()), rel=1e-5)
    loss.backward()
    assert all(p.grad is None for p in obj.teacher.parameters())
    before = [p.clone() for p in obj.teacher.parameters()]
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(1.0)
    obj.after_step(0, 10)                                                   # τ = 0.5 at step 0
    assert obj.teacher.momentum == pytest.approx(0.5)
    moved = [(t - b) for t, b in zip(obj.teacher.parameters(), before, strict=True)]
    student = list(enc.parameters())
    assert all(torch.allclose(m, 0.5 * (s.detach() - b)) for m, s, b in zip(moved, student, before, strict=True))
    obj.resume_at(10, 10)
    assert obj.teacher.momentum == 1.0


def test_target_size_is_declared_or_measured() -> None:
    assert target_size(TinyText(), {}) == 12 and target_size(TinyFrames(), {}) == 4
    assert target_size(cnn(), CNN_INFO) == 3 * 4 * 4                       # stride-4 patches of 3 channels


# ---- next token ---------------------------------------------------------------------------

def test_next_token_cross_entropy_is_shifted_by_one() -> None:
    obj = make("next_token", TinyText())
    x = text_batch()["x"]
    loss, metrics = obj({"x": x}, IDENTITY, gen())
    with torch.no_grad():
        logits = obj.head(obj.encoder.tokens(x, causal=True))
    terms = [float(F.cross_entropy(logits[b, t][None], x[b, t + 1][None])) for b in range(6) for t in range(7)]
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)
    assert metrics["bits_per_token"].item() == pytest.approx(loss.item() / math.log(2), rel=1e-6)


@pytest.mark.parametrize("normalize", [False, True])
def test_next_token_regresses_the_next_frame_raw_or_standardised(normalize: bool) -> None:
    obj = make("next_token", TinyFrames(), normalize_targets=normalize)
    x = wave_batch()["x"]
    loss, _ = obj({"x": x}, IDENTITY, gen())
    with torch.no_grad():
        pred = obj.head(obj.encoder.tokens(x, causal=True))[:, :-1]           # [B, 7, 4] for frames 1..7
    nxt = x.view(6, 8, 4)[:, 1:]
    if normalize:                                                            # each frame to mean 0, variance 1
        nxt = (nxt - nxt.mean(-1, keepdim=True)) / (nxt.var(-1, unbiased=False, keepdim=True) + 1e-6).sqrt()
    assert loss.item() == pytest.approx(float((pred - nxt).pow(2).mean()), rel=1e-5)


@pytest.mark.parametrize("kind", ["text", "frames"])
def test_next_token_never_sees_the_future(kind: str) -> None:
    obj = make("next_token", TinyText() if kind == "text" else TinyFrames())
    assert isinstance(obj, NextToken)
    x = text_batch()["x"] if kind == "text" else wave_batch()["x"]
    cut = 3                                                                 # tokens ≤ cut are kept
    x2 = x.clone()
    if kind == "text":
        x2[:, cut + 1:] = torch.randint(2, 12, x2[:, cut + 1:].shape, generator=gen(9))
    else:
        x2[:, 4 * (cut + 1):] = torch.randn(x2[:, 4 * (cut + 1):].shape, generator=gen(9))
    with torch.no_grad():
        p1, y1, _ = obj.predict(x)
        p2, y2, _ = obj.predict(x2)
    assert torch.allclose(p1[:, : cut + 1], p2[:, : cut + 1], atol=1e-6)   # predictions from tokens ≤ cut
    assert not torch.allclose(p1[:, cut + 1:], p2[:, cut + 1:])             # later ones do change
    assert torch.equal(y1[:, :cut], y2[:, :cut])                            # targets of pairs (t, t+1), t < cut


# ---- rotation and temporal order -------------------------------------------------------------

def test_rotations_match_rot90_and_labels() -> None:
    x = torch.rand(4, 3, 5, 5, generator=gen())
    rotated = rotate_batch(x, torch.tensor([0, 1, 2, 3]))
    for k in range(4):
        assert torch.equal(rotated[k], torch.rot90(x[k], k, dims=(1, 2)))
    xr, k = rotation_views(x.repeat(4, 1, 1, 1), gen(2))
    for i in range(16):
        assert torch.equal(xr[i], torch.rot90(x[i % 4], int(k[i]), dims=(1, 2)))
    clips = torch.rand(2, 3, 1, 4, 4, generator=gen(1))
    rc = rotate_batch(clips, torch.tensor([1, 3]))
    assert torch.equal(rc[1, 2], torch.rot90(clips[1, 2], 3, dims=(1, 2)))
    with pytest.raises(ValueError, match="square"):
        rotate_batch(torch.rand(2, 3, 4, 6), torch.tensor([1, 1]))


def test_temporal_order_permutes_segments_and_the_inverse_restores() -> None:
    table = permutation_table(3)
    assert table.shape == (6, 3) and torch.equal(table[0], torch.arange(3))
    x = torch.arange(2 * 10).view(2, 10)                                     # segments of 3, one left over
    xp, label = order_views(x, table, gen(4))
    for b in range(2):
        order = table[label[b]].tolist()
        want = [v for i in order for v in x[b, 3 * i: 3 * i + 3].tolist()] + [x[b, 9].item()]
        assert xp[b].tolist() == want
    assert torch.equal(permute_segments(xp, inverse_order(table[label])), x)
    clips = torch.rand(5, 6, 2, 3, 3, generator=gen())
    order = table[torch.randint(6, (5,), generator=gen(5))]
    shuffled = permute_segments(clips, order)
    assert torch.equal(shuffled[2, 2:4], clips[2, 2 * int(order[2, 1]): 2 * int(order[2, 1]) + 2])
    assert torch.equal(permute_segments(shuffled, inverse_order(order)), clips)


def test_temporal_order_per_segment_classifies_each_segment_encoded_alone() -> None:
    torch.manual_seed(0)
    obj = make("temporal_order", TinyFrames(), segments=2, per_segment=True)
    batch = wave_batch()                                                     # [6, 32]: segments of 16 samples
    loss, _ = obj(batch, lambda b, g: b, gen(3))
    x_perm, label = order_views(batch["x"], obj.permutations, gen(3))
    seen = torch.cat([obj.encoder(x_perm[:, :16]), obj.encoder(x_perm[:, 16:])], dim=1)   # [6, 2·D]
    assert torch.allclose(loss, F.cross_entropy(obj.head(seen), label))


def test_temporal_order_per_segment_cuts_padded_text_over_each_rows_own_length() -> None:
    x = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 0], [2, 3, 4, 5, 0, 0, 0, 0]])    # real lengths 7 and 4
    parts = segment_rows(x, 2, torch.tensor([7, 4]))
    assert parts.tolist() == [[5, 6, 7], [8, 9, 10], [2, 3, 0], [4, 5, 0]]        # the remainder (11) dropped
    torch.manual_seed(0)
    obj = make("temporal_order", TinyText(), segments=2, per_segment=True)
    loss, _ = obj({"x": x}, lambda b, g: b, gen(3))
    x_perm, label = order_views(x, obj.permutations, gen(3), torch.tensor([7, 4]))
    seen = obj.encoder(segment_rows(x_perm, 2, torch.tensor([7, 4]))).view(2, -1)
    assert torch.allclose(loss, F.cross_entropy(obj.head(seen), label))
    with pytest.raises(ValueError, match="per_segment"):
        make("temporal_order", TinyText(), per_segment=True, cut="words")


def test_temporal_order_gap_silences_the_end_of_every_segment_before_the_shuffle() -> None:
    x = torch.arange(1, 21, dtype=torch.float32).view(2, 10)                # segments of 3, one left over
    assert with_gaps(x, 3, 0.34)[0].tolist() == [1, 2, 0, 4, 5, 0, 7, 8, 0, 10]
    clips = torch.ones(1, 8, 1, 2, 2)                                        # frames: segments of 2
    assert with_gaps(clips, 3, 0.5)[0, :, 0, 0, 0].tolist() == [1, 0, 1, 0, 1, 0, 1, 1]
    obj = make("temporal_order", TinyFrames(), segments=2, gap=0.25)
    batch = wave_batch()
    loss, _ = obj(batch, lambda b, g: b, gen(3))
    x_perm, label = order_views(with_gaps(batch["x"], 2, 0.25), obj.permutations, gen(3))
    assert torch.allclose(loss, F.cross_entropy(obj.head(obj.encoder(x_perm)), label))
    with pytest.raises(ValueError, match="token ids"):
        make("temporal_order", TinyText(), gap=0.25)(text_batch(), lambda b, g: b, gen())


def test_next_token_causal_features_read_the_encoder_as_it_was_trained() -> None:
    torch.manual_seed(0)
    batch = text_batch()
    batch["x"][0, 5:] = 0                                                    # padding in row 0
    enc = TinyText()
    plain = make("next_token", enc).features(batch)
    causal = make("next_token", enc, causal_features=True).features(batch)
    assert torch.allclose(plain, enc(**batch)), "by default the encoder's own (bidirectional) output"
    want = masked_mean(enc.tokens(batch["x"], causal=True), enc.valid_tokens(batch["x"]))
    assert torch.allclose(causal, want) and not torch.allclose(causal, plain)


# ---- constructors -------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "options", "match"), [
    ("byol", {"momentum": 1.0}, "momentum"),
    ("dino", {"teacher_temp": 0.0}, "teacher_temp must be a number with 0 <"),
    ("dino", {"student_temp": -1.0}, "student_temp"),
    ("dino", {"center_momentum": 1.0}, "center_momentum"),
    ("vicreg", {"std_coeff": -1.0}, "std_coeff"),
    ("barlow_twins", {"lambd": -0.1}, "lambd"),
    ("masked", {"mask_ratio": 0.0}, "mask_ratio"),
    ("masked", {"mask_ratio": 1.0}, "mask_ratio"),
    ("inpainting", {"region": 1.5}, "region"),
    ("next_token", {"shift": 0}, "shift"),
    ("next_token", {"loss": "huber"}, "loss"),
    ("temporal_order", {"segments": 1}, "segments"),
])
def test_constructors_refuse_bad_options(name: str, options: dict[str, Any], match: str) -> None:
    enc = TinyText() if name in ("next_token", "temporal_order", "masked", "inpainting") else cnn()
    with pytest.raises(ValueError, match=match):
        make(name, enc, **options)


def test_rotation_refuses_non_square_images() -> None:
    obj = make("rotation", cnn())
    with pytest.raises(ValueError, match="square"):
        obj({"x": torch.rand(4, 3, 16, 8)}, IDENTITY, gen())


# ---- every objective learns ------------------------------------------------------------------

AUG = Pipeline({"horizontal_flip": {"p": 0.5}, "color_jitter": {"p": 0.8, "brightness": 0.3, "contrast": 0.3,
                                                                 "saturation": 0.3, "hue": 0.05}})
CASES: list[tuple[str, Callable[[], Encoder], Callable[[], dict[str, torch.Tensor]], dict[str, Any], Any]] = [
    ("byol", cnn, image_batch, CNN_INFO, AUG),
    ("dino", cnn, image_batch, CNN_INFO, AUG),
    ("vicreg", cnn, image_batch, CNN_INFO, AUG),
    ("barlow_twins", cnn, image_batch, CNN_INFO, AUG),
    ("masked", cnn, image_batch, CNN_INFO, IDENTITY),
    ("masked", TinyText, text_batch, {}, IDENTITY),
    ("inpainting", cnn, image_batch, CNN_INFO, IDENTITY),
    ("inpainting", TinyFrames, wave_batch, {}, IDENTITY),
    ("next_token", TinyText, text_batch, {}, IDENTITY),
    ("next_token", TinyFrames, wave_batch, {}, IDENTITY),
    ("rotation", cnn, image_batch, CNN_INFO, AUG),
    ("temporal_order", TinyFrames, wave_batch, {}, IDENTITY),
]


@pytest.mark.parametrize(("name", "encoder", "data", "info", "augment"), CASES,
                         ids=[f"{c[0]}-{c[1].__name__}" for c in CASES])
def test_objective_learns_on_a_fixed_batch(name: str, encoder: Callable[[], Encoder],
                                           data: Callable[[], dict[str, torch.Tensor]], info: dict[str, Any],
                                           augment: Any) -> None:
    torch.manual_seed(0)
    obj = make(name, encoder(), info)
    opt = torch.optim.Adam(list(obj.trainable()), lr=3e-3)
    batch, losses = data(), []
    for step in range(20):
        loss, metrics = obj(batch, augment, gen(123))                     # same views and masks every step
        assert loss.dim() == 0 and torch.isfinite(loss) and all(v.dim() == 0 for v in metrics.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        obj.after_step(step + 1, 20)
        losses.append(loss.item())
    assert sum(losses[-3:]) < sum(losses[:3]), losses
    assert obj.embed(batch).shape[0] == batch["x"].shape[0]
