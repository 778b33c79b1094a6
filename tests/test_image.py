"""The image modality beyond the first slice: blur, solarize, the ViT, and users' own image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sslterm import catalog, config
from sslterm.augment import image
from sslterm.data import build_dataset
from sslterm.models import build_encoder


def imgs(n: int = 8, c: int = 3, size: int = 16) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(0))


def test_blur_smooths_per_sample_and_is_identity_when_off() -> None:
    x = imgs()
    g = torch.Generator().manual_seed(1)
    assert torch.equal(image.gaussian_blur(x, {"p": 0.0, "sigma_min": 1.0, "sigma_max": 2.0}, g), x)
    out = image.gaussian_blur(x, {"p": 1.0, "sigma_min": 0.5, "sigma_max": 2.0}, g)
    assert out.shape == x.shape
    assert out.diff(dim=-1).abs().mean() < 0.7 * x.diff(dim=-1).abs().mean(), "neighbouring pixels get closer"
    assert torch.allclose(out.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=0.05), "brightness is kept"
    same = x[:1].expand_as(x).contiguous()
    varied = image.gaussian_blur(same, {"p": 1.0, "sigma_min": 0.2, "sigma_max": 3.0}, g)
    assert not torch.allclose(varied[0], varied[1]), "σ is drawn per sample"
    tiny = image.gaussian_blur(x, {"p": 1.0, "sigma_min": 0.0, "sigma_max": 0.0}, g)
    assert torch.allclose(tiny, x, atol=1e-4)


def test_solarize_inverts_only_bright_pixels() -> None:
    x = imgs()
    out = image.solarize(x, {"p": 1.0, "threshold": 0.5}, torch.Generator())
    assert torch.equal(out[x < 0.5], x[x < 0.5])
    assert torch.allclose(out[x >= 0.5], 1 - x[x >= 0.5])
    assert torch.equal(image.solarize(x, {"p": 0.0, "threshold": 0.5}, torch.Generator()), x)


def test_colour_ops_accept_single_channel_images() -> None:
    x = imgs(c=1)
    g = torch.Generator().manual_seed(0)
    params = {**catalog.get("augmentation", "color_jitter").defaults(), "p": 1.0}
    assert image.color_jitter(x, params, g).shape == x.shape
    assert torch.equal(image.grayscale(x, {"p": 1.0}, g), x)


def vit() -> torch.nn.Module:
    opts = {"patch_size": 4, "dim": 16, "depth": 1, "heads": 2}
    return build_encoder("vit", {"channels": 3, "image_size": 16}, opts)


def test_vit_shapes_and_token_contract() -> None:
    enc, x = vit(), imgs(n=2)
    assert enc(x).shape == (2, 16) and enc.tokens(x).shape == (2, 16, 16) and enc.token_grid == (4, 4)
    targets = enc.token_targets(x)
    assert targets.shape == (2, 16, 3 * 16)
    assert torch.equal(targets[0, 0].view(3, 4, 4), x[0, :, :4, :4]), "token 0 is the top-left patch"
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, 5] = True
    hidden = enc.hide(x, mask)
    assert torch.all(enc.token_targets(hidden)[:, 5] == 0.5)
    assert torch.equal(enc.token_targets(hidden)[:, 4], targets[:, 4])


def test_vit_edge_targets_mark_where_colours_meet_whatever_they_are() -> None:
    opts = {"patch_size": 4, "dim": 16, "depth": 1, "heads": 2, "targets": "edges"}
    enc = build_encoder("vit", {"channels": 3, "image_size": 16}, opts)
    x = torch.full((1, 3, 16, 16), 0.3)
    x[:, :, 4:8, 4:8] = torch.tensor([0.9, 0.1, 0.6])[:, None, None]       # a square filling patch 5
    edges = enc.token_targets(x)                                            # [1, 16, 16]: one edge map per patch
    assert edges.shape == (1, 16, 16)
    touched = {i for i in range(16) if edges[0, i].abs().sum() > 0}
    assert touched == {1, 4, 5}, "the square's own patch and those whose last row or column meets its border"
    recoloured = (1 - x)[:, [1, 2, 0]]                                    # inverted, channels swapped
    assert torch.allclose(enc.token_targets(recoloured), edges, atol=1e-6)
    assert torch.all(enc.token_targets(torch.full((1, 3, 16, 16), 0.7)) == 0), "a flat image has no edges"
    with pytest.raises(ValueError, match="targets must be one of"):
        build_encoder("vit", {"channels": 3, "image_size": 16}, {**opts, "targets": "colours"})


def test_vit_causal_tokens_never_see_later_patches() -> None:
    enc, x = vit().eval(), imgs(n=1)
    later = x.clone()
    later[..., 12:, :] = 0.0                                   # the last row of patches (tokens 12..15)
    a, b = enc.tokens(x, causal=True), enc.tokens(later, causal=True)
    assert torch.allclose(a[:, :12], b[:, :12], atol=1e-5) and not torch.allclose(a[:, 12:], b[:, 12:])


def test_vit_refuses_bad_sizes() -> None:
    with pytest.raises(ValueError, match="must divide"):
        build_encoder("vit", {"channels": 3, "image_size": 30}, {"patch_size": 4, "dim": 16, "depth": 1, "heads": 2})


def write_png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (20, 12)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_image_folder_with_class_subfolders(tmp_path: Path) -> None:
    for i in range(5):
        write_png(tmp_path / "cats" / f"{i}.png", (200, 10, 10))
        write_png(tmp_path / "dogs" / f"{i}.jpg", (10, 10, 200))
    exp = config.from_overrides([f"data.path={tmp_path}", "data.image_size=8"])
    assert exp.data.dataset == "image_files"
    ds = build_dataset("image_files", exp.data.options)
    assert ds.classes == ("cats", "dogs") and ds.info == {"channels": 3, "image_size": 8, "num_classes": 2}
    assert len(ds) == 9 and ds.size("eval") == 1 and ds.train["x"].shape[1:] == (3, 8, 8)
    red = ds.train["x"][ds.y_train == 0][:, 0].float().mean()
    assert red > 150, "cats are red: labels follow the subfolders"


def test_flat_folder_is_unlabelled_and_bad_files_are_named(tmp_path: Path) -> None:
    for i in range(3):
        write_png(tmp_path / f"{i}.png", (i * 50, 0, 0))
    ds = build_dataset("image_files", {"path": str(tmp_path), "image_size": 8, "max_examples": 0, "seed": 0})
    assert ds.y_train is None and ds.info["num_classes"] == 0
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"1 of 4 images cannot be read .*broken\.png"):
        build_dataset("image_files", {"path": str(tmp_path), "image_size": 8, "max_examples": 0, "seed": 0})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="0 JPEG/PNG/WebP image"):
        build_dataset("image_files", {"path": str(empty), "image_size": 8, "max_examples": 0, "seed": 0})


@pytest.mark.parametrize("shape,dtype", [((10, 3, 8, 8), np.uint8), ((10, 8, 8), np.float32),
                                         ((10, 1, 12, 8), np.uint8)])
def test_npz_images(tmp_path: Path, shape: tuple[int, ...], dtype: type) -> None:
    rng = np.random.default_rng(0)
    x = rng.random(shape).astype(dtype) if dtype is np.float32 else rng.integers(0, 255, shape).astype(dtype)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 2)
    ds = build_dataset("image_files", {"path": str(tmp_path / "d.npz"), "image_size": 8, "max_examples": 0, "seed": 0})
    assert ds.train["x"].dtype == torch.uint8 and ds.train["x"].shape[-2:] == (8, 8)
    assert ds.info["num_classes"] == 2 and len(ds) + ds.size("eval") == 10


def test_bad_npz_is_one_clear_line(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", images=np.zeros((4, 3, 8, 8)))
    np.savez(tmp_path / "b.npz", x=np.zeros((4, 5, 8, 8), dtype=np.uint8))
    np.savez(tmp_path / "c.npz", x=np.full((4, 3, 8, 8), 2.0))
    for name, msg in (("a", "no array named 'x'"), ("b", "expected"), ("c", r"\[0, 1\]")):
        with pytest.raises(ValueError, match=msg):
            build_dataset("image_files", {"path": str(tmp_path / f"{name}.npz"), "image_size": 8, "max_examples": 0,
                                          "seed": 0})


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.from_overrides([f"data.path={tmp_path / 'nope'}"])


def test_runs_without_a_file_get_modality_defaults() -> None:
    exp = config.from_overrides(["objective.name=infonce"], source="command line")
    assert list(exp.augment) == list(catalog.get("modality", "image").extra["default_augment"])
    assert config.from_overrides(["model.encoder=vit"]).model.options["patch_size"] == 4


def test_upright_shapes_are_lit_from_above() -> None:
    opts = {**catalog.get("dataset", "shapes").defaults(), "num_samples": 256, "num_eval": 16, "upright": True}
    x = build_dataset("shapes", opts).train["x"].float()
    assert (x[..., :4, :].mean() - x[..., -4:, :].mean()) > 20, "the top rows are brighter than the bottom"
    plain = build_dataset("shapes", {**opts, "upright": False}).train["x"].float()
    assert abs(plain[..., :4, :].mean() - plain[..., -4:, :].mean()) < 10
