"""experiments/gpu: every published CIFAR-10 recipe loads and trains 2 steps on tiny generated images on the CPU.

With ``SSLTERM_TEST_DEVICE=cuda`` (benchmarks/gpu_check.sh) they train on the GPU with their own switches.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
import tomllib

from sslterm import config
from sslterm.launch import prepare
from sslterm.train.loop import train

GPU = Path(__file__).resolve().parents[1] / "experiments" / "gpu"
RECIPES = sorted(GPU.glob("*.toml"))
DEVICE = os.environ.get("SSLTERM_TEST_DEVICE", "cpu")  # benchmarks/gpu_check.sh sets cuda: then as shipped (bf16, ...)
ON_CPU = ("train.precision=fp32", "train.channels_last=false") if DEVICE == "cpu" else ()
DRY_RUN = ("train.epochs=0", "train.steps=2", "train.batch_size=4", f"train.device={DEVICE}", *ON_CPU,
           "train.warmup_steps=1", "train.threads=1", "train.log_every=1",
           "train.checkpoint_every=100", "train.snapshot_every=100", "train.auto_resume=0", "eval.every=0",
           "eval.probe_batch=4")


@pytest.fixture(scope="module")
def cifar_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CIFAR-10-shaped image folder: 2 class subfolders of 6 random 32-px PNGs."""
    from PIL import Image

    root = tmp_path_factory.mktemp("cifar10") / "train"
    for c, name in enumerate(("airplane", "cat")):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.effect_noise((32, 32), 40 + 30 * c + i).convert("RGB").save(root / name / f"{i:05d}.png")
    return root


@pytest.fixture(scope="module")
def shared_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One runs folder for every recipe, so the image folder is prepared into its cache once."""
    return tmp_path_factory.mktemp("runs")


def test_every_method_has_a_recipe() -> None:
    assert {p.stem for p in RECIPES} >= {"simclr", "byol", "vicreg", "barlow_twins", "dino"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_is_published_and_trains_two_steps(path: Path, cifar_like: Path, shared_runs: Path) -> None:
    text = path.read_text()
    shipped = tomllib.loads(text)                     # config.load checks that cifar10/train exists
    assert shipped["data"]["path"] == "cifar10/train" and shipped["train"]["epochs"] > 0
    assert shipped["model"].get("width", 0) >= 64 or shipped["model"]["encoder"] == "vit", "ResNet-18-sized"
    assert "Expect about" in text or "No published accuracy" in text, "each recipe says what to expect"
    exp = config.load(path, [f"data.path={cifar_like}", *DRY_RUN])
    run = prepare(exp, shared_runs, source="test")
    with contextlib.redirect_stdout(io.StringIO()):
        outcome = train(exp, run, lambda: False, lambda step, device: None)
    assert outcome.step == 2
