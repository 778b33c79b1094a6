"""Seeded mutations of the shipped experiments: values at and near each key's bounds, alone and in combination.

Used by tests/test_config_fuzz.py (a small corpus in the suite) and runnable as a script for a bigger one::

    .venv/bin/python -m tests.config_mutations 400        # mutations; prints accepted / refused / crashed
"""

from __future__ import annotations

import random
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sslterm import catalog, config
from sslterm.catalog import Param
from tests.conftest import EXPERIMENTS

# Overrides that keep an experiment's choices but make it tiny (as tests/test_experiments.py does).
SMALL = ("train.steps=2", "train.log_every=1", "train.snapshot_every=1", "train.checkpoint_every=2",
         "train.batch_size=8", "train.warmup_steps=1", "train.threads=1", "train.device=cpu", "eval.every=2",
         "eval.probe_batch=4", "eval.max_examples=16", "eval.bank_size=32")
SIZES = {"num_samples": 64, "num_eval": 16}

# Upper ends that would make two CPU steps slow (they are valid, just not cheap): mutations stay below.
COST_CAP = {"dim": 128, "depth": 3, "width": 32, "layers": 4, "blocks": 2, "stages": 4, "heads": 16,
            "out_dim": 512, "head_hidden": 128, "image_size": 64, "seq_len": 256, "length": 8192,
            "frames": 16, "max_nodes": 64, "node_features": 32, "n_mels": 64, "n_fft": 1024, "hop": 512,
            "masks": 4, "spans": 8, "segments": 5, "grid": 8, "target_size": 16, "sample_rate": 16000,
            "num_topics": 16, "min_nodes": 64, "shift": 16, "projector_dim": 128, "projector_hidden": 128,
            "batch_size": 64, "warmup_steps": 4, "knn_k": 64, "bank_size": 64, "probe_batch": 32,
            "max_examples": 32, "workers": 2}
# Keys of [train] and [eval] that are mutated (the others are fixed by the small run or cost only time).
RUN_KEYS = {"data": ("on_device", "workers"),
            "train": ("batch_size", "warmup_steps", "min_lr_ratio", "weight_decay", "precision", "channels_last"),
            "eval": ("knn_k", "bank_size", "probe_batch", "max_examples", "online_probe")}
# Keys whose value does not change what can be built (or that the small run fixes).
SKIP = {"seed", "num_samples", "num_eval", "path", "max_examples", "upright", "falling"}


@dataclass(frozen=True)
class Mutation:
    """One mutated experiment: its file and the ``--set`` overrides on top of the small run."""

    path: Path
    sets: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.path.name} " + " ".join(f"--set {s}" for s in self.sets)


def _candidates(p: Param) -> list[Any]:
    """Values at and near the bounds of ``p`` (kept below COST_CAP), the default, and small odd sizes."""
    if p.choices is not None:
        return list(p.choices)
    if p.type is bool:
        return [True, False]
    if p.type is int:
        low = int(p.low if p.low is not None else 0)
        high = int(min(p.high if p.high is not None else low + 64, COST_CAP.get(p.name, 1 << 30)))
        d = int(p.default)
        near = {low, low + 1, low + 2, high, high - 1, d, d - 1, d + 1, d * 2, d // 2, 3, 5, 6, 7, 12}
        return sorted(v for v in near if low <= v <= high and (v > low or not p.low_open))
    low_f = float(p.low if p.low is not None else 0.0)
    high_f = float(p.high if p.high is not None else max(low_f + 10.0, float(p.default) * 4))
    vals = [low_f, high_f, (low_f + high_f) / 2, float(p.default), low_f + 1e-3, high_f - 1e-3]
    return [v for v in vals if low_f <= v <= high_f and (v > low_f or not p.low_open)]


def _keys(exp: config.Experiment) -> list[tuple[str, Param]]:
    """Every (full key, parameter) the resolved experiment has that is worth mutating."""
    out: list[tuple[str, Param]] = []
    for prefix, kind, name in (("data", "dataset", exp.data.dataset), ("model", "encoder", exp.model.encoder),
                               ("objective", "objective", exp.objective.name)):
        out += [(f"{prefix}.{p.name}", p) for p in catalog.get(kind, name).params if p.name not in SKIP]
    for aug in exp.augment:
        out += [(f"augment.{aug}.{p.name}", p) for p in catalog.get("augmentation", aug).params]
    for p in config.section_params(config.ModelConfig):
        if p.name in COST_CAP:
            out.append((f"model.{p.name}", p))
    for table, cls in (("data", config.DataConfig), ("train", config.TrainConfig), ("eval", config.EvalConfig)):
        out += [(f"{table}.{p.name}", p) for p in config.section_params(cls) if p.name in RUN_KEYS[table]]
    return out


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def mutations(count: int, seed: int = 0) -> list[Mutation]:
    """``count`` seeded mutations, spread evenly over the shipped experiments, each changing 1 to 3 keys."""
    rng = random.Random(seed)
    files = sorted(EXPERIMENTS.glob("*.toml"))
    keys = {f: _keys(config.load(f, small_sets(f))) for f in files}
    out: list[Mutation] = []
    for i in range(count):
        f = files[i % len(files)] if i < len(files) else rng.choice(files)
        chosen = rng.sample(keys[f], k=min(len(keys[f]), rng.choice((1, 2, 2, 3))))
        sets = tuple(f"{key}={_text(rng.choice(_candidates(p)))}" for key, p in chosen)
        out.append(Mutation(f, sets))
    return out


def small_sets(path: Path) -> list[str]:
    """The overrides that make the experiment at ``path`` tiny, sized to its dataset's bounds."""
    raw = config.read_toml(path)
    data = raw.get("data", {})
    dataset = catalog.get("dataset", data.get("dataset") or catalog.names("dataset", data.get("modality"))[0])
    sets = list(SMALL)
    for key, value in SIZES.items():
        param = dataset.param(key)
        if param is not None:
            sets.append(f"data.{key}={max(value, int(param.low or 0))}")
    return sets


def train_two_steps(exp: config.Experiment, root: Path) -> None:
    """Train ``exp`` two steps in-process on the CPU (the path tests/test_experiments.py uses)."""
    from sslterm.store import create_run
    from sslterm.train.loop import train

    run = create_run(root, exp.name)
    outcome = train(exp, run, lambda: False, lambda step, device: None)
    assert outcome.step == exp.train.steps, f"stopped at step {outcome.step}"


def attempt(m: Mutation, root: Path) -> tuple[str, str]:
    """('refused', message), ('trained', '') or ('crashed', the error) for one mutation."""
    try:
        exp = config.load(m.path, [*small_sets(m.path), *m.sets])
    except config.ConfigError as e:
        return "refused", str(e)
    try:
        train_two_steps(exp, root)
    except Exception as e:  # every failure of an accepted configuration is the finding
        return "crashed", "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()[-1]
    return "trained", ""


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 200
    seed = int(argv[1]) if len(argv) > 1 else 1
    tally = {"refused": 0, "trained": 0, "crashed": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for m in mutations(count, seed):
            outcome, detail = attempt(m, Path(tmp))
            tally[outcome] += 1
            if outcome == "crashed":
                print(f"CRASH {m.describe()}\n      {detail}", flush=True)
    print(" ".join(f"{k}={v}" for k, v in tally.items()))
    return 1 if tally["crashed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
