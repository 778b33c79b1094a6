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
