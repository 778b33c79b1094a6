"""Video modality: the moving_shapes clips, the user's .npz clips, temporal augmentations, the frame transformer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sslterm import catalog, config
from sslterm.augment import Pipeline, image, video
from sslterm.data import build_dataset
from sslterm.data.video import MOTION_CLASSES, render_moving_shapes
from sslterm.models import build_encoder
from sslterm.models.video import FrameTransformer

SMALL = {"num_samples": 200, "num_eval": 40, "frames": 6, "image_size": 16, "seed": 3}


@pytest.fixture(scope="module")
def clips() -> tuple[torch.Tensor, torch.Tensor]:
    """1200 labelled clips of 8 frames of 16×16, as float in [0, 1]."""
    x, y = render_moving_shapes(1200, 8, 16, torch.Generator().manual_seed(0))
    return x.float() / 255, y


def flow(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Global optical flow per clip (Lucas-Kanade over changing pixels): (vx, vy) in pixels per frame."""
    it = x[:, 1:] - x[:, :-1]
    mid = (x[:, 1:] + x[:, :-1]) / 2
    ix = (mid.roll(-1, -1) - mid.roll(1, -1)) / 2
    iy = (mid.roll(-1, -2) - mid.roll(1, -2)) / 2
    w = (it.abs() > 0.02).float()
    dims = (1, 2, 3, 4)
    return (-(it * ix * w).sum(dims) / ((ix * ix * w).sum(dims) + 1e-6),
            -(it * iy * w).sum(dims) / ((iy * iy * w).sum(dims) + 1e-6))


def ridge_accuracy(features: torch.Tensor, y: torch.Tensor, n_train: int = 900) -> float:
    """Held-out accuracy of a closed-form ridge classifier on ``features``."""
    f = torch.cat([features, torch.ones(len(features), 1)], 1)
    a, targets = f[:n_train], F.one_hot(y[:n_train], len(MOTION_CLASSES)).float()
    w = torch.linalg.solve(a.T @ a + torch.eye(a.shape[1]), a.T @ targets)
    return float(((f[n_train:] @ w).argmax(1) == y[n_train:]).float().mean())


# ---- the moving_shapes dataset -------------------------------------------------------------------


def test_moving_shapes_is_deterministic_shaped_and_labelled() -> None:
    a, b = build_dataset("moving_shapes", SMALL), build_dataset("moving_shapes", SMALL)
    assert torch.equal(a.train["x"], b.train["x"]) and torch.equal(a.y_eval, b.y_eval)
    assert a.train["x"].shape == (200, 6, 3, 16, 16) and a.train["x"].dtype == torch.uint8
    assert a.eval["x"].shape == (40, 6, 3, 16, 16)
    assert a.info == {"frames": 6, "channels": 3, "image_size": 16, "num_classes": 10}
    assert a.classes == MOTION_CLASSES and torch.bincount(a.y_train, minlength=10).min() > 5
    other = build_dataset("moving_shapes", {**SMALL, "seed": 4})
    assert not torch.equal(a.train["x"], other.train["x"]), "another seed, other clips"
    batch = a.batch("train", torch.tensor([2, 0]))
    assert batch["x"].dtype == torch.float32 and batch["x"].min() >= 0 and batch["x"].max() <= 1


def test_upright_clips_are_lit_from_above_and_others_from_anywhere() -> None:
    def top_minus_bottom(upright: bool) -> torch.Tensor:
        x, _ = render_moving_shapes(300, 2, 16, torch.Generator().manual_seed(1), upright=upright)
        x = x.float() / 255
        return x[..., :4, :].mean((1, 2, 3, 4)) - x[..., -4:, :].mean((1, 2, 3, 4))   # [N]

    lit, anywhere = top_minus_bottom(True), top_minus_bottom(False)
    assert (lit > 0).float().mean() > 0.8, "an up that rotation prediction can find"
    assert 0.3 < (anywhere > 0).float().mean() < 0.7, "no preferred side"


def test_falling_clips_have_motions_with_an_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """``falling``: downward motions are faster and upward ones slower than sideways ones; otherwise all alike."""
    from sslterm.data import video as generator

    drawn: list[torch.Tensor] = []
    draw = generator._draw
    monkeypatch.setattr(generator, "_draw", lambda pos, *rest: (drawn.append(pos), draw(pos, *rest))[1])

    def speeds(falling: bool) -> list[float]:
        drawn.clear()
        _, y = render_moving_shapes(600, 6, 16, torch.Generator().manual_seed(2), upright=False, falling=falling)
        step = generator._wrap(torch.diff(torch.cat(drawn), dim=1)).norm(dim=-1).mean(1)    # [N] per frame
        c = {name: y == i for i, name in enumerate(MOTION_CLASSES)}
        return [float(step[c[k]].mean()) for k in ("down", "right", "left", "up")]

    down, right, left, up = speeds(True)
    sideways = (right + left) / 2
    assert abs(right - left) < 0.1 * sideways, (right, left)
    assert down / sideways == pytest.approx(generator.FALL, rel=0.1) and up / sideways == pytest.approx(
        generator.RISE, rel=0.1), (down, sideways, up)
    fastest, *_, slowest = sorted(speeds(False))
    assert fastest < 1.15 * slowest


def test_translation_classes_move_their_way_and_static_clips_stand_still(clips) -> None:
    x, y = clips
    vx, vy = flow(x)
    c = {name: y == i for i, name in enumerate(MOTION_CLASSES)}
    assert (vx[c["right"]] > 0.5).float().mean() > 0.95 and (vx[c["left"]] < -0.5).float().mean() > 0.95
    assert (vy[c["down"]] > 0.5).float().mean() > 0.95 and (vy[c["up"]] < -0.5).float().mean() > 0.95
    across = c["right"] | c["left"]
    along = c["up"] | c["down"]
    assert (vx[across].abs() > vy[across].abs()).float().mean() > 0.9, "no drift across the motion"
    assert (vy[along].abs() > vx[along].abs()).float().mean() > 0.9
    still = (x[:, 1:] - x[:, :-1]).abs().amax(dim=(1, 2, 3, 4))
    assert torch.all(still[c["static"]] == 0) and torch.all(still[~c["static"]] > 0.1)


def test_growing_shapes_change_ever_more_pixels_and_shrinking_ones_fewer(clips) -> None:
    x, y = clips
    changed = ((x[:, 1:] - x[:, :-1]).abs().sum(2) > 0.05).float().sum((2, 3))   # [N, T-1] pixels changed
    later = changed[:, -2:].sum(1) > changed[:, :2].sum(1)                         # the outline's ring widens
    grow, shrink = y == MOTION_CLASSES.index("grow"), y == MOTION_CLASSES.index("shrink")
    assert later[grow].float().mean() > 0.9 and later[shrink].float().mean() < 0.1


def test_a_single_frame_does_not_tell_the_class_but_frame_changes_do(clips) -> None:
    x, y = clips
    single = [ridge_accuracy(F.adaptive_avg_pool2d(x[:, t], 8).flatten(1), y) for t in (0, 4, 7)]
    changes = F.adaptive_avg_pool2d((x[:, 1:] - x[:, :-1]).abs().flatten(0, 1), 8).view(len(x), -1)
    motion = ridge_accuracy(changes, y)
    assert max(single) < 0.2, f"one frame should be near chance (0.1), got {single}"
    assert motion > max(single) + 0.1, f"frame changes should tell more, got {motion} vs {single}"


# ---- video augmentations -------------------------------------------------------------------------


def counting_clips(b: int = 16, t: int = 8) -> torch.Tensor:
    """Clips [B, T, 1, 2, 2] whose frame t is filled with the value t (so frame indices are visible)."""
    return torch.arange(t, dtype=torch.float32).view(1, t, 1, 1, 1).expand(b, t, 1, 2, 2).contiguous()


@pytest.mark.parametrize(("name", "params"), [("temporal_crop", {"min_fraction": 0.4}), ("frame_drop", {"p": 0.5})])
def test_video_augmentation_shape_determinism_and_per_sample_randomness(name: str, params: dict) -> None:
    fn = getattr(video, name)
    x = counting_clips(32)
    a = fn(x, params, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, fn(x, params, torch.Generator().manual_seed(1))), "same seed, same views"
    assert not torch.equal(a, fn(x, params, torch.Generator().manual_seed(2))), "another seed, other views"
    assert len({tuple(row) for row in a[:, :, 0, 0, 0].tolist()}) > 4, "each clip draws its own frames"
    with pytest.raises(ValueError, match="clips"):
        fn(torch.rand(4, 3, 8, 8), params, torch.Generator())


def test_video_augmentations_are_identity_at_zero_strength() -> None:
    x = torch.rand(5, 7, 3, 4, 4)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(video.temporal_crop(x, {"min_fraction": 1.0}, g), x)
    assert torch.equal(video.frame_drop(x, {"p": 0.0}, g), x)


def test_temporal_crop_keeps_frame_order_within_a_contiguous_window() -> None:
    x = counting_clips(64)
    idx = video.temporal_crop(x, {"min_fraction": 0.3}, torch.Generator().manual_seed(0))[:, :, 0, 0, 0]
    assert torch.all(idx[:, 1:] >= idx[:, :-1]), "frames never go back in time"
    span = idx[:, -1] - idx[:, 0] + 1
    assert span.min() >= 2 and span.max() <= 8 and span.float().std() > 0, "sub-clips of varied length"
    assert (idx[:, 0] > 0).any(), "sub-clips start at varied frames"


def test_frame_drop_repeats_the_last_kept_frame() -> None:
    x = counting_clips(64)
    idx = video.frame_drop(x, {"p": 0.5}, torch.Generator().manual_seed(0))[:, :, 0, 0, 0]
    t = torch.arange(8).float()
    assert torch.all(idx[:, 0] == 0), "the first frame is always kept"
    assert torch.all(idx[:, 1:] >= idx[:, :-1]) and torch.all(idx <= t)
    kept = idx == t                                   # a frame shown at its own time was kept
    assert 0.3 < kept[:, 1:].float().mean() < 0.7, "about half the frames dropped at p = 0.5"
    last_kept = torch.where(kept, t.expand_as(idx), torch.zeros_like(idx)).cummax(1).values
    assert torch.equal(idx, last_kept)
    assert torch.all(video.frame_drop(x, {"p": 1.0}, torch.Generator())[:, :, 0, 0, 0] == 0)


def test_image_augmentations_use_one_parameter_set_per_clip() -> None:
    x = torch.rand(8, 4, 3, 12, 12, generator=torch.Generator().manual_seed(0))   # distinct frames
    flipped = image.horizontal_flip(x, {"p": 0.5}, torch.Generator().manual_seed(1))
    per_frame = (flipped == x.flip(-1)).flatten(2).all(2)                          # [B, T]
    assert torch.all(per_frame.all(1) | ~per_frame.any(1)), "all frames of a clip flipped alike"
    assert per_frame.all(1).any() and not per_frame.all(), "some clips flipped, some not"
    for name in ("random_resized_crop", "color_jitter", "grayscale"):
        p = catalog.get("augmentation", name).defaults()
        p = {**p, "p": 1.0} if "p" in p else p
        clip = getattr(image, name)(x, p, torch.Generator().manual_seed(2))
        for t in range(x.shape[1]):                   # the same draw as for the frame t of every clip alone
            alone = getattr(image, name)(x[:, t], p, torch.Generator().manual_seed(2))
            assert torch.allclose(clip[:, t], alone, atol=1e-5), f"{name}: frame {t} got other parameters"


# ---- the frame transformer -----------------------------------------------------------------------


def encoder(**changes: object) -> FrameTransformer:
    opts = {**catalog.get("encoder", "frame_transformer").defaults(), "width": 4, "dim": 16, "heads": 2, **changes}
    enc = build_encoder("frame_transformer", {"frames": 6, "channels": 3, "image_size": 16}, opts)
    assert isinstance(enc, FrameTransformer)
    return enc


def test_frame_transformer_shapes_and_token_contract() -> None:
    enc = encoder(target_size=4)
    x = torch.rand(3, 6, 3, 16, 16)
    assert enc(x).shape == (3, 16) and enc.out_dim == 16
    assert enc.tokens(x).shape == (3, 6, 16) and enc.token_dim == 16 and enc.token_grid == (6,)
    targets = enc.token_targets(x)
    assert targets.shape == (3, 6, 3 * 16)
    assert torch.allclose(targets[1, 2].view(3, 4, 4)[:, 0, 0], x[1, 2, :, :4, :4].mean((1, 2)))
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[0, 1] = mask[2, 5] = True
    hidden = enc.hide(x, mask)
    assert torch.all(hidden[0, 1] == 0.5) and torch.all(hidden[2, 5] == 0.5)
    assert torch.equal(hidden[~mask], x[~mask]), "frames not hidden are untouched"
    assert enc.valid_tokens(x) is None
    assert enc.tokens(x[:, :4]).shape == (3, 4, 16), "shorter clips use the first positions"


@pytest.mark.parametrize("norm", ["group", "batch"])
def test_causal_tokens_never_see_future_frames(norm: str) -> None:
    enc = encoder(norm=norm)
    if norm == "batch":
        enc.eval()                                     # batch statistics mix frames while training
    x = torch.rand(2, 6, 3, 16, 16, requires_grad=True)
    probe = torch.randn(16, generator=torch.Generator().manual_seed(0))       # (a plain sum of a LayerNorm is 0)
    (enc.tokens(x, causal=True)[:, 2] @ probe).sum().backward()
    grad = x.grad.abs().sum(dim=(0, 2, 3, 4))          # [T]
    assert torch.all(grad[3:] == 0) and torch.all(grad[:3] > 0), f"token 2 depends on frames {grad}"
    x2 = x.detach().clone()
    x2[:, 4:] = torch.rand(2, 2, 3, 16, 16)
    a, b = enc.tokens(x.detach(), causal=True), enc.tokens(x2, causal=True)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6) and not torch.allclose(a[:, 4:], b[:, 4:])
    full_a, full_b = enc.tokens(x.detach()), enc.tokens(x2)
    assert not torch.allclose(full_a[:, 0], full_b[:, 0]), "without causal, frame 0 sees the future"


def test_frame_transformer_change_targets_are_each_frames_pooled_change() -> None:
    x = torch.rand(3, 6, 3, 16, 16)
    frames = encoder(target_size=4).token_targets(x)                     # [3, 6, 48]
    change = encoder(target_size=4, targets="change").token_targets(x)
    assert change.shape == frames.shape and torch.all(change[:, 0] == 0), "the first frame has no change"
    assert torch.allclose(change[:, 1:], frames[:, 1:] - frames[:, :-1], atol=1e-6)
    both = encoder(target_size=4, targets="both").token_targets(x)
    assert torch.equal(both, torch.cat([frames, change], dim=-1))
    with pytest.raises(ValueError, match="targets must be one of"):
        encoder(targets="flow")


def test_frame_transformer_motion_targets_say_where_a_frame_changed_whatever_the_colours() -> None:
    x = torch.full((1, 4, 3, 16, 16), 0.2)
    x[..., 0] = 0.9                                                         # the red channel of the background
    for t in range(4):                                                      # a 4×4 square moving right, 4 px a frame
        x[0, t, :, 4:8, 4 * t: 4 * t + 4] = torch.tensor([0.1, 0.7, 0.3])[:, None, None]
    motion = encoder(target_size=4, targets="motion").token_targets(x)    # [1, 4, 16]: 4×4 cells of 4×4 px
    assert motion.shape == (1, 4, 16) and torch.all(motion[:, 0] == 0), "the first frame has no change"
    cells = motion[0].view(4, 4, 4)                                         # [T, cell row, cell column]
    for t in range(1, 4):                                                   # the square left column t-1 for column t
        assert cells[t][1, t - 1] > 0 and cells[t][1, t] > 0 and cells[t].sum() == cells[t][1, t - 1:t + 1].sum()
    recoloured = (1 - x)[:, :, [2, 0, 1]]                                  # inverted and its channels swapped
    assert torch.allclose(encoder(target_size=4, targets="motion").token_targets(recoloured), motion, atol=1e-6)


def test_frame_transformer_refuses_bad_options_and_inputs() -> None:
    with pytest.raises(ValueError, match="divisible"):
        encoder(dim=18, heads=4)
    with pytest.raises(ValueError, match="target_size"):
        encoder(target_size=32)
    with pytest.raises(ValueError, match="stride"):
        encoder(stages=5, stem_stride=4)
    with pytest.raises(ValueError, match="grid"):
        encoder(grid=8)                                    # the feature map of 16 px frames is 4×4
    with pytest.raises(ValueError, match="clips"):
        encoder().tokens(torch.rand(2, 9, 3, 16, 16))


def test_frame_features_keep_position_and_see_change() -> None:
    enc = encoder(frame_diff=False).eval()
    x = torch.full((2, 6, 3, 16, 16), 0.5)
    x[0, :, :, 2:6, 2:6] = 1.0                             # a square top left
    x[1, :, :, 10:14, 10:14] = 1.0                         # the same square bottom right
    f = enc.frame_features(x)
    assert f.shape == (2, 6, enc.cnn.out_dim * 16)
    assert not torch.allclose(f[0], f[1], atol=1e-4), "where the shape is reaches the frame features"
    moving = encoder(frame_diff=True).eval()
    still = x[:1].clone()
    jump = still.clone()
    jump[0, 3:] = x[1, 3:]                                 # the square jumps at frame 3
    a, b = moving.frame_features(still), moving.frame_features(jump)
    assert torch.allclose(a[:, :3], b[:, :3], atol=1e-6), "frames before the jump are unchanged"
    without = enc.frame_features(jump)
    assert torch.allclose(without[:, 3], without[:, 4], atol=1e-6), "without frame_diff equal frames look alike"
    assert not torch.allclose(b[:, 3], b[:, 4], atol=1e-4), "with frame_diff the frame that changed stands out"


def test_frame_transformer_trains_with_infonce_and_video_augmentations() -> None:
    from sslterm.objectives import Context, build_objective

    enc = encoder()
    obj = build_objective("infonce", Context(enc, {}, 32, 8), {"temperature": 0.5})
    pipe = Pipeline({"temporal_crop": {"min_fraction": 0.5}, "frame_drop": {"p": 0.2},
                     "random_resized_crop": catalog.get("augmentation", "random_resized_crop").defaults()})
    x = build_dataset("moving_shapes", SMALL).batch("train", torch.arange(8))
    loss, _ = obj(x, pipe, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in enc.parameters())


# ---- the user's clips ----------------------------------------------------------------------------


def files(path: str, **changes: object) -> dict:
    return {**catalog.get("dataset", "video_files").defaults(), "path": path, "image_size": 8, **changes}


def test_video_files_reads_uint8_clips_with_labels(tmp_path: Path) -> None:
    x = np.broadcast_to(np.arange(20, dtype=np.uint8)[:, None, None, None, None], (20, 5, 3, 8, 8))  # clip i is i
    np.savez(tmp_path / "c.npz", x=x, y=np.arange(20) % 4)
    d = build_dataset("video_files", files(str(tmp_path / "c.npz")))
    assert d.size("train") == 18 and d.size("eval") == 2
    assert d.train["x"].dtype == torch.uint8 and d.train["x"].shape[1:] == (5, 3, 8, 8)
    assert d.info == {"frames": 5, "channels": 3, "image_size": 8, "num_classes": 4} and len(d.classes) == 4
    assert torch.equal(d.y_train, d.train["x"][:, 0, 0, 0, 0].long() % 4), "labels stay with their clips"
    assert torch.equal(d.y_eval, d.eval["x"][:, 0, 0, 0, 0].long() % 4)
    assert not torch.equal(d.eval["x"][:, 0, 0, 0, 0], torch.tensor([0, 1], dtype=torch.uint8)), "shuffled"
    again = build_dataset("video_files", files(str(tmp_path / "c.npz")))
    assert torch.equal(again.eval["x"], d.eval["x"]), "the split is seeded"


def test_video_files_reads_float_one_channel_clips_without_labels(tmp_path: Path) -> None:
    x = np.random.default_rng(1).random((10, 4, 12, 16)).astype(np.float32)      # [N, T, H, W], not square
    np.savez(tmp_path / "f.npz", x=x)
    d = build_dataset("video_files", files(str(tmp_path / "f.npz"), max_examples=6))
    assert d.size("train") + d.size("eval") == 6 and d.y_train is None and d.classes == ()
    assert d.train["x"].shape[1:] == (4, 1, 8, 8) and d.train["x"].dtype == torch.uint8
    assert d.info["channels"] == 1 and d.info["num_classes"] == 0
    np.savez(tmp_path / "s.npz", x=x[:, :, :8, :8])
    same = build_dataset("video_files", files(str(tmp_path / "s.npz")))
    pixels = torch.cat([same.train["x"], same.eval["x"]]).float() / 255
    assert pixels.sort(0).values.allclose(torch.from_numpy(x[:, :, None, :8, :8]).sort(0).values, atol=1 / 255)


@pytest.mark.parametrize(("arrays", "message"), [
    ({"z": np.zeros((4, 2, 8, 8), np.uint8)}, "no array named 'x'"),
    ({"x": np.zeros((4, 8, 8), np.uint8)}, "x has shape"),
    ({"x": np.zeros((4, 2, 5, 8, 8), np.uint8)}, "x has shape"),
    ({"x": np.full((4, 2, 8, 8), 2.0)}, "float x ranges over"),
    ({"x": np.full((4, 2, 8, 8), np.nan)}, "NaN"),
    ({"x": np.zeros((4, 2, 8, 8), np.int32)}, "dtype int32"),
    ({"x": np.zeros((4, 2, 8, 8), np.uint8), "y": np.zeros(3, np.int64)}, "y has"),
    ({"x": np.zeros((4, 2, 8, 8), np.uint8), "y": np.zeros(4, np.float32)}, "y is float32"),
])
def test_video_files_refuses_bad_files_in_one_line(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        build_dataset("video_files", files(str(path)))
    assert str(info.value).startswith(str(path)) and "expected" in str(info.value) and "\n" not in str(info.value)


def test_video_files_refuses_a_file_that_is_not_npz(tmp_path: Path) -> None:
    path = tmp_path / "clip.npz"
    path.write_text("not a zip")
    with pytest.raises(ValueError, match=r"not a readable \.npz"):
        build_dataset("video_files", files(str(path)))


# ---- configuration -------------------------------------------------------------------------------


def test_video_config_validates_and_refuses_image_encoders(tmp_path: Path) -> None:
    exp = config.from_overrides(["data.modality=video", "model.encoder=frame_transformer"])
    assert exp.data.dataset == "moving_shapes" and exp.model.options["dim"] == 64
    assert set(catalog.names("augmentation", "video")) >= {"temporal_crop", "frame_drop", "horizontal_flip"}
    default = config.from_overrides(["data.modality=video"])
    assert default.model.encoder == "frame_transformer" and "temporal_crop" in default.augment
    assert "horizontal_flip" not in default.augment, "a flip would turn motion right into motion left"
    with pytest.raises(config.ConfigError, match=r"model\.encoder"):
        config.from_overrides(["data.modality=video", "model.encoder=cnn"])
    with pytest.raises(config.ConfigError, match="temporal_crop"):
        config.from_overrides(["augment.temporal_crop.min_fraction=0.5"])          # image data
    np.savez(tmp_path / "c.npz", x=np.zeros((4, 2, 8, 8), np.uint8))
    chosen = config.from_overrides(["data.modality=video", f"data.path={tmp_path / 'c.npz'}"])
    assert chosen.data.dataset == "video_files"
