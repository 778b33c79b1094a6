"""Every configuration the loader accepts trains: seeded mutations of the shipped experiments, two CPU steps each."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config_mutations import Mutation, attempt, mutations

CORPUS = mutations(60, seed=2026)


def _id(m: Mutation) -> str:
    return f"{m.path.stem}:{'+'.join(s.split('=')[0] for s in m.sets)}"


@pytest.mark.parametrize("mutation", CORPUS, ids=_id)
def test_accepted_mutation_trains(mutation: Mutation, tmp_path: Path) -> None:
    outcome, detail = attempt(mutation, tmp_path)
    assert outcome != "crashed", f"accepted but crashed: {mutation.describe()}: {detail}"


def test_corpus_is_mostly_accepted() -> None:
    """Mutations stay near the bounds without all being refused, so the corpus exercises training."""
    from sslterm import config

    accepted = 0
    for m in CORPUS:
        try:
            config.load(m.path, list(m.sets))
            accepted += 1
        except config.ConfigError:
            pass
    assert accepted >= len(CORPUS) // 2


def _one_experiment_per_objective() -> list[Path]:
    from sslterm import config
    from tests.conftest import EXPERIMENTS

    chosen: dict[str, Path] = {}
    for path in sorted(EXPERIMENTS.glob("*.toml")):
        chosen.setdefault(config.load(path).objective.name, path)
    return sorted(chosen.values())


@pytest.mark.parametrize("path", _one_experiment_per_objective(), ids=lambda p: p.stem)
def test_every_objective_trains_under_bf16_autocast(path: Path, tmp_path: Path) -> None:
    """train.precision = "bf16" is accepted on the CPU, so it must train (DINO's centre update failed)."""
    outcome, detail = attempt(Mutation(path, ('train.precision="bf16"',)), tmp_path)
    assert outcome == "trained", detail
