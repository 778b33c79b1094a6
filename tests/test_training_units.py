"""Pure unit tests on tiny tensors: the InfoNCE loss, image augmentations, the data, the schedule."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from sslterm import catalog
from sslterm.augment import Pipeline, image
from sslterm.config import TrainConfig
from sslterm.data import build_dataset
from sslterm.models import build_encoder
from sslterm.objectives import Context, build_objective
from sslterm.objectives.infonce import info_nce
from sslterm.utils.schedule import lr_at


def reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """A slow, obviously correct NT-Xent: a Python loop over anchors."""
    z = torch.cat([z1, z2])
    b = z1.shape[0]
    total = torch.zeros(())
    for i in range(2 * b):
        pos = (i + b) % (2 * b)
        sims = torch.stack([F.cosine_similarity(z[i], z[k], dim=0) / tau for k in range(2 * b) if k != i])
        others = [k for k in range(2 * b) if k != i]
        total = total - (sims[others.index(pos)] - torch.logsumexp(sims, dim=0))
    return total / (2 * b)


@pytest.mark.parametrize("kind", ["dataset", "encoder", "objective", "augmentation"])
def test_every_catalog_entry_has_an_implementation(kind: str) -> None:
    for name in catalog.names(kind):
        assert callable(catalog.implementation(kind, name)), f"{kind} {name}"


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_info_nce_matches_reference(tau: float) -> None:
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    loss, _ = info_nce(z1, z2, tau)
    assert torch.allclose(loss, reference_nt_xent(z1, z2, tau), atol=1e-5)


def test_info_nce_is_symmetric_and_rewards_aligned_views() -> None:
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    assert torch.allclose(info_nce(z1, z2, 0.2)[0], info_nce(z2, z1, 0.2)[0], atol=1e-6)
    aligned, acc = info_nce(z1, z1 + 0.01 * z2, 0.2)
    assert aligned < info_nce(z1, z2, 0.2)[0] and acc == 1.0


def test_info_nce_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        info_nce(torch.randn(1, 4), torch.randn(1, 4), 0.1)
    with pytest.raises(ValueError, match="one shape"):
        info_nce(torch.randn(3, 4), torch.randn(3, 5), 0.1)
    enc = build_encoder("cnn", {"channels": 3, "image_size": 32}, catalog.get("encoder", "cnn").defaults())
    with pytest.raises(ValueError, match="temperature"):
        build_objective("infonce", Context(enc), {"temperature": 0.0})


def images(n: int = 6, size: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def defaults(name: str, **changes: float) -> dict:
    return {**catalog.get("augmentation", name).defaults(), **changes}


@pytest.mark.parametrize("name", catalog.names("augmentation", "image"))
def test_augmentation_shape_range_determinism_and_per_sample_randomness(name: str) -> None:
    x = images(n=32)
    fn = getattr(image, name)
    coin_only = name in ("horizontal_flip", "grayscale", "solarize")  # their one random choice is the coin
    params = defaults(name, **({"p": 0.5} if coin_only else {"p": 1.0} if "p" in defaults(name) else {}))
    a = fn(x, params, torch.Generator().manual_seed(3))
    b = fn(x, params, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= -1e-6 and a.max() <= 1 + 1e-6
    assert torch.equal(a, b), "same seed, same views"
    c = fn(x, params, torch.Generator().manual_seed(4))
    assert not torch.equal(a, c), "another seed, other views"
    if not coin_only:
        same = x[:1].expand_as(x).clone()
        out = fn(same, params, torch.Generator().manual_seed(5))
        assert not torch.allclose(out[0], out[1]), "each sample draws its own parameters"


def test_augmentations_are_identity_at_zero_strength() -> None:
    x = images()
    g = torch.Generator().manual_seed(0)
    assert torch.equal(image.horizontal_flip(x, {"p": 0.0}, g), x)
    assert torch.equal(image.grayscale(x, {"p": 0.0}, g), x)
    assert torch.equal(image.color_jitter(x, defaults("color_jitter", p=0.0), g), x)
    still = image.color_jitter(x, defaults("color_jitter", p=1.0, brightness=0.0, contrast=0.0,
                                                      saturation=0.0, hue=0.0), g)
    assert torch.allclose(still, x, atol=1e-5)
    crop = image.random_resized_crop(x, defaults("random_resized_crop", scale_min=1.0, ratio_min=1.0,
                                                            ratio_max=1.0), g)
    assert torch.allclose(crop, x, atol=1e-5)


def test_flip_mirrors_and_grayscale_has_equal_channels() -> None:
    x = images()
    g = torch.Generator().manual_seed(0)
    assert torch.equal(image.horizontal_flip(x, {"p": 1.0}, g), x.flip(-1))
    gray = image.grayscale(x, {"p": 1.0}, g)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])


def test_pipeline_applies_in_order_and_refuses_unknown() -> None:
    x = images()
    pipe = Pipeline({"horizontal_flip": {"p": 1.0}, "grayscale": {"p": 1.0}})
    out = pipe({"x": x, "y": x[:, 0]}, torch.Generator().manual_seed(0))
    assert torch.allclose(out["x"], image.grayscale(x.flip(-1), {"p": 1.0}, torch.Generator()))
    assert torch.equal(out["y"], x[:, 0]), "tensors other than x pass through"
    with pytest.raises(KeyError, match="unknown augmentation 'nope'"):
        Pipeline({"nope": {}})


def test_shapes_dataset_is_deterministic_labelled_and_balanced() -> None:
    opts = {"num_samples": 500, "num_eval": 50, "image_size": 16, "seed": 7}
    a, b = build_dataset("shapes", opts), build_dataset("shapes", opts)
    assert a.y_train is not None and a.y_eval is not None and b.y_eval is not None
    assert torch.equal(a.train["x"], b.train["x"]) and torch.equal(a.y_eval, b.y_eval)
    assert a.train["x"].shape == (500, 3, 16, 16) and a.train["x"].dtype == torch.uint8
    counts = torch.bincount(a.y_train, minlength=10)
    assert counts.min() > 20 and len(a.classes) == 10
    assert not torch.equal(a.train["x"][:50], a.eval["x"]), "held-out images differ from training images"
    batch = a.batch("train", torch.tensor([3, 1]))
    assert batch["x"].dtype == torch.float32 and batch["x"].min() >= 0 and batch["x"].max() <= 1


def test_clip_augmentations_share_parameters_across_frames() -> None:
    clip = images(n=4).unsqueeze(1).expand(4, 3, 3, 12, 12).contiguous()   # [B, T, C, H, W], equal frames
    for name in catalog.names("augmentation", "image"):
        p = {**defaults(name), **({"p": 1.0} if "p" in defaults(name) else {})}
        out = getattr(image, name)(clip, p, torch.Generator().manual_seed(0))
        assert out.shape == clip.shape
        assert torch.allclose(out[:, 0], out[:, 2], atol=1e-6), f"{name}: frames of a clip differ"


def test_encoder_and_objective_shapes() -> None:
    opts = {**catalog.get("encoder", "cnn").defaults(), "stem_stride": 1}
    enc = build_encoder("cnn", {"channels": 3, "image_size": 32}, opts)
    x = torch.rand(4, 3, 32, 32)
    assert enc(x).shape == (4, enc.out_dim) and enc.tokens(x).shape == (4, 8 * 8, enc.out_dim)
    obj = build_objective("infonce", Context(enc, {}, 32, 8), {"temperature": 0.5})
    loss, metrics = obj({"x": x}, Pipeline({"horizontal_flip": {"p": 0.5}}), torch.Generator().manual_seed(0))
    assert loss.dim() == 0 and loss > 0 and set(metrics) == {"pos_acc", "chance_loss"}
    assert obj.features({"x": x}).shape == (4, enc.out_dim)


def test_lr_schedule_warms_up_then_decays_to_floor() -> None:
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    lrs = [lr_at(s, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:]))
    assert lr_at(100, cfg) == pytest.approx(0.1) and not any(math.isnan(v) for v in lrs)


def test_mode_restores_the_previous_mode_even_when_the_block_fails() -> None:
    from sslterm.train.modes import mode

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    net.eval()
    with pytest.raises(RuntimeError), mode(net, True):
        assert net.training and net[1].training
        raise RuntimeError("a failing forward")
    assert not net.training and not net[1].training
    net.train()
    with mode(net, False):
        assert not net.training
    assert net.training


def test_step_predicates_follow_the_intervals() -> None:
    from sslterm import config
    from sslterm.train.loop import is_checkpoint_step, is_eval_step, is_log_step, is_snapshot_step, is_stop_check_step

    exp = config.from_overrides(["train.steps=10", "train.log_every=3", "train.snapshot_every=4",
                                 "train.checkpoint_every=5", "eval.every=6", "train.warmup_steps=1"])
    steps = range(1, 11)
    assert [s for s in steps if is_log_step(s, exp.train)] == [3, 6, 9, 10]
    assert [s for s in steps if is_snapshot_step(s, exp.train)] == [4, 8, 10]
    assert [s for s in steps if is_checkpoint_step(s, exp.train)] == [5, 10]
    assert [s for s in steps if is_eval_step(s, exp)] == [6, 10]
    assert [s for s in steps if is_stop_check_step(s, exp.train, 2)] == [3, 6, 9]
    assert all(is_stop_check_step(s, exp.train, 1) for s in steps)
