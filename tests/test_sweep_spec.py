"""Sweep definitions: grid and random expansion (seeded, reproducible), the [sweep] table, up-front validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY, sslterm

from sslterm import config
from sslterm.sweep.spec import SweepError, build_all, expand, make_spec, split_sweep


def _exp_file(tmp_path: Path, extra: str = "") -> Path:
    lines = []
    for table in ("data", "model", "train", "eval"):
        lines.append(f"[{table}]")
        lines += [f"{k.split('.', 1)[1]} = {v}" for k, v in (kv.split("=") for kv in TINY) if k.startswith(table)]
    path = tmp_path / "exp.toml"
    path.write_text('name = "tiny"\nseed = 5\n' + "\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def test_grid_times_seeds_in_order() -> None:
    spec = make_spec(["objective.temperature=0.1,0.2,0.5", "train.lr=1e-3,3e-3"], [], 0, 3)
    trials = expand(spec, base_seed=5)
    assert len(trials) == 3 * 2 * 3
    assert [t.id for t in trials[:2]] == ["t001", "t002"]
    assert trials[0].settings == {"objective.temperature": 0.1, "train.lr": 1e-3}
    assert [t.seed for t in trials[:4]] == [5, 6, 7, 5]
    assert trials[-1].settings == {"objective.temperature": 0.5, "train.lr": 3e-3}


def test_random_search_is_reproducible_and_in_range() -> None:
    texts = ["train.lr=loguniform:1e-4:1e-2", "model.width=int:2:6", "objective.name=choice:infonce,vicreg",
             "train.weight_decay=uniform:0:0.1"]
    a, b = (expand(make_spec([], texts, 20, 1, sample_seed=3)) for _ in range(2))
    assert a == b
    assert a != expand(make_spec([], texts, 20, 1, sample_seed=4))
    for t in a:
        assert 1e-4 <= t.settings["train.lr"] <= 1e-2
        assert t.settings["model.width"] in range(2, 7)
        assert t.settings["objective.name"] in ("infonce", "vicreg")
        assert 0 <= t.settings["train.weight_decay"] <= 0.1


@pytest.mark.parametrize(("grid", "rand", "trials", "key"), [
    (["train.lr"], [], 0, "train.lr"),
    (["train.lr=1,1"], [], 0, "train.lr"),
    ([], ["train.lr=loguniform:0:1"], 3, "train.lr"),
    ([], ["train.lr=normal:0:1"], 3, "train.lr"),
    ([], ["train.lr=uniform:0:1"], 0, "--trials"),
    (["train.lr=1e-3,2e-3"], ["train.lr=uniform:0:1"], 2, "train.lr"),
])
def test_bad_definitions_name_the_key(grid: list[str], rand: list[str], trials: int, key: str) -> None:
    with pytest.raises(SweepError) as e:
        make_spec(grid, rand, trials, 1)
    assert e.value.key == key
    assert "\n" not in str(e.value)


def test_sweep_table_is_read_and_stripped(tmp_path: Path) -> None:
    path = _exp_file(tmp_path, '[sweep]\ngrid = {"objective.temperature" = [0.1, 0.2]}\nseeds = 2\n')
    raw, spec = split_sweep(config.read_toml(path), str(path))
    assert "sweep" not in raw and spec is not None
    assert len(build_all(raw, expand(spec), str(path), "x")) == 4      # config.build refuses [sweep]: stripped


def test_every_trial_is_validated_before_anything_starts(tmp_path: Path) -> None:
    raw = config.read_toml(_exp_file(tmp_path))
    trials = expand(make_spec(["objective.temperature=0.1,-1"], [], 0, 1))
    with pytest.raises(SweepError) as e:
        build_all(raw, trials, "exp.toml", "x")
    assert str(e.value).startswith("trial t002 (objective.temperature=-1):")
    assert e.value.key == "objective.temperature"


def test_cli_refuses_a_bad_trial_with_one_line_and_creates_nothing(tmp_path: Path, runs: Path) -> None:
    path = _exp_file(tmp_path)
    proc = sslterm("sweep", str(path), "--grid", "objective.temperature=0.1,-1", "--seeds", "2", runs=runs)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "trial t003 (objective.temperature=-1)" in proc.stderr
    assert "Traceback" not in proc.stderr and not runs.exists()


def test_cli_dry_run_prints_the_table(tmp_path: Path, runs: Path) -> None:
    path = _exp_file(tmp_path, '[sweep]\ngrid = {"train.lr" = [0.001, 0.003]}\nseeds = 2\n')
    proc = sslterm("sweep", str(path), "--dry-run", runs=runs)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["trial", "train.lr", "seed"]
    assert lines[1].split() == ["t001", "0.001", "5"] and lines[4].split() == ["t004", "0.003", "6"]
    assert "4 trial(s)" in lines[-1] and not runs.exists()


def test_the_sweep_table_takes_the_search_keys_and_refuses_bad_ones(tmp_path: Path) -> None:
    table = ('[sweep]\nsearch = "optuna"\nmetric = "loss"\ntrials = 4\nprune = false\nprune_warmup = 10\n'
             'random = {"train.lr" = "loguniform:1e-4:1e-2"}\n')
    _, spec = split_sweep(config.read_toml(_exp_file(tmp_path, table)), "exp.toml")
    assert spec is not None and (spec.search, spec.metric, spec.direction, spec.prune, spec.prune_warmup) == (
        "optuna", "loss", "minimize", False, 10)
    bad = table.replace("prune = false", 'prune = "no"')
    with pytest.raises(SweepError, match="prune: got 'no', expected true or false"):
        split_sweep(config.read_toml(_exp_file(tmp_path, bad)), "exp.toml")


def test_search_without_optuna_installed_is_one_line_and_makes_nothing(tmp_path: Path, runs: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from typer.testing import CliRunner

    from sslterm.cli import app
    from sslterm.sweep import search

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    assert search.missing() == "--search optuna needs optuna: pip install 'sslterm[sweep]'"
    result = CliRunner().invoke(app, ["sweep", str(_exp_file(tmp_path)), "--search", "optuna", "--metric", "loss",
                                      "--random", "train.lr=loguniform:1e-4:1e-2", "--trials", "2",
                                      "--runs-dir", str(runs)])
    assert result.exit_code == 2 and "pip install 'sslterm[sweep]'" in result.output
    assert not runs.exists()
