"""Comparing runs (sslterm.compare), and the pure helpers behind the app's charts and system line (no UI)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import subprocess
import sys
import time
from array import array
from pathlib import Path

import pytest

from sslterm import tomlio
from sslterm.compare import compare, config_diff, flatten, flatten_evaluation, table_sections
from sslterm.humanize import fmt_duration
from sslterm.store import JsonlWriter, Run, Status, create_run, write_status
from sslterm.tui.series import PALETTE, EmaSmoother, assign_colors, smooth, step_smoothing
from sslterm.tui.sysinfo import SystemSampler, cpu_ticks, pick_gpu, rss_bytes
from sslterm.tui.widgets.loss_chart import NUMPY_FROM, downsample, time_label


def make_run(root: Path, name: str, losses: list[float | None], config: dict[str, object],
             evaluation: dict[str, object] | None = None) -> Run:
    """A finished run with one metrics record per loss (every 10 steps), written by the store's writers."""
    run = create_run(root, name)
    (run.path / "config.toml").write_text(tomlio.dumps({"name": name, **config}))
    write_status(run.path, Status(id=run.id, state="finished", pid=os.getpid(), started_at=time.time() - 60,
                                  ended_at=time.time(), step=10 * len(losses), total_steps=10 * len(losses)))
    metrics = JsonlWriter(run.metrics_path)
    for k, loss in enumerate(losses, start=1):
        rec: dict[str, object] = {"step": 10 * k, "t": 0.5 * k, "time": time.time(), "loss": loss, "lr": 0.1 / k}
        if k == len(losses):
            rec["knn_acc"] = 0.5
        metrics.write(rec)
    metrics.close()
    if evaluation is not None:
        run.save_evaluation(evaluation)
    return run


EVAL = {"step": 30, "linear_probe": {"accuracy": 0.81}, "knn": {"accuracy": 0.77, "k": 20},
        "raw_linear_probe": {"accuracy": 0.4},
        "finetune": {"1%": {"accuracy": 0.5, "labels": 10}, "100%": {"accuracy": 0.9, "labels": 1000}}}


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Run, Run]:
    a = make_run(tmp_path, "a", [3.0, 2.0, 2.5], {"objective": {"name": "infonce", "temperature": 0.1},
                                                   "train": {"steps": 30, "lr": 0.1}}, evaluation=EVAL)
    b = make_run(tmp_path, "b", [4.0, 1.5, None, 1.8], {"objective": {"name": "infonce", "temperature": 0.5},
                                                        "train": {"steps": 30, "lr": 0.1, "warmup": 5}})
    return a, b


def test_config_diff_keeps_only_keys_that_differ_or_are_missing() -> None:
    assert flatten({"a": {"b": {"c": 1}}, "d": [1, 2], "e": {}}) == {"a.b.c": 1, "d": [1, 2], "e": {}}
    diff = config_diff([{"o": {"t": 0.1, "n": "x"}, "s": 1}, {"o": {"t": 0.5, "n": "x"}, "s": 1, "w": 5}])
    assert diff == {"o.t": [0.1, 0.5], "w": [None, 5]}


def test_compare_summarises_each_run_and_diffs_configs(two_runs: tuple[Run, Run]) -> None:
    a, b = two_runs
    cmp = compare([a, b])
    assert [r.id for r in cmp.runs] == [a.id, b.id]
    assert cmp.config_diff == {"name": ["a", "b"], "objective.temperature": [0.1, 0.5], "train.warmup": [None, 5]}
    ra, rb = cmp.runs
    assert ra.final["loss"] == 2.5 and ra.min_loss == 2.0 and ra.step == 30 and ra.status == "finished"
    assert rb.final["loss"] == 1.8 and rb.min_loss == 1.5  # the null (NaN) loss is neither final nor min
    assert ra.final["knn_acc"] == 0.5 and "t" not in ra.final and "time" not in ra.final
    assert ra.duration_s is not None and 59 < ra.duration_s < 120
    assert ra.evaluation == {"eval.linear_probe": 0.81, "eval.knn": 0.77, "eval.raw_linear_probe": 0.4,
                             "eval.finetune.1%": 0.5, "eval.finetune.100%": 0.9}
    assert rb.evaluation == {}
    steps, values = cmp.aligned("loss")
    assert steps == [10, 20, 30, 40]
    assert values[a.id][:3] == [3.0, 2.0, 2.5] and math.isnan(values[a.id][3])
    assert math.isnan(values[b.id][2]) and values[b.id][3] == 1.8
    assert cmp.series[a.id]["t"].values == [0.5, 1.0, 1.5]  # the wall-time axis
    sections = {key: rows for key, _, rows in table_sections(cmp)}
    assert [label for label, _ in sections["config"]] == ["name", "objective.temperature", "train.warmup"]
    assert dict(sections["eval"])["linear_probe"] == ["0.81", "-"]


def test_csv_has_one_row_per_run_and_a_column_per_metric_eval_and_differing_key(two_runs: tuple[Run, Run]) -> None:
    a, b = two_runs
    cmp = compare([a, b])
    rows = list(csv.DictReader(io.StringIO(cmp.to_csv())))
    assert [r["id"] for r in rows] == [a.id, b.id]
    assert {"loss", "lr", "knn_acc", "min_loss", "eval.linear_probe", "eval.finetune.1%",
            "config.objective.temperature", "config.train.warmup"} <= set(rows[0])
    assert "config.train.lr" not in rows[0] and "config.objective.name" not in rows[0]  # equal in both
    assert rows[0]["eval.linear_probe"] == "0.81" and rows[1]["eval.linear_probe"] == ""
    assert rows[0]["config.train.warmup"] == "" and rows[1]["config.train.warmup"] == "5"
    data = json.loads(cmp.to_json())
    assert data["config_diff"]["train.warmup"] == {a.id: None, b.id: 5} and "series" not in data
    assert json.loads(cmp.to_json(series=True))["series"][b.id]["loss"]["steps"] == [10, 20, 40]


def test_compare_never_imports_torch_or_the_faces() -> None:
    code = "import sys, sslterm.compare; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split())
    assert not loaded & {"torch", "textual", "typer", "plotext"}


def test_evaluation_without_labels_flattens_to_nothing() -> None:
    assert flatten_evaluation({"step": 5, "note": "the dataset has no labels"}) == {}
    assert flatten_evaluation(None) == {}


# -- smoothing -------------------------------------------------------------------------------------


def tensorboard_ema(values: list[float], weight: float) -> list[float]:
    """A slow transliteration of TensorBoard's resampleData smoothing (vz_line_chart2)."""
    is_constant = all(v == values[0] for v in values)
    last, num_accum, out = 0.0, 0, []
    for v in values:
        if is_constant or not math.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        num_accum += 1
        debias = 1.0 - math.pow(weight, num_accum) if weight != 1 else 1.0
        out.append(last / debias)
    return out


def test_smooth_matches_tensorboard_and_passes_nan_through() -> None:
    values = [math.sin(k / 3) + 0.01 * k for k in range(200)]
    values[17] = math.nan
    values[50] = math.inf
    for weight in (0.0, 0.3, 0.6, 0.9, 0.99):
        got, want = smooth(values, weight), tensorboard_ema(values, weight)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert (math.isnan(g) and math.isnan(w)) or g == pytest.approx(w, rel=1e-12, abs=1e-12)
    smoothed = smooth(values, 0.6)
    assert math.isnan(smoothed[17]) and smoothed[50] == math.inf
    assert all(math.isfinite(v) for k, v in enumerate(smoothed) if k not in (17, 50))  # not poisoned
    assert smooth([2.0, 4.0], 0.5) == pytest.approx([2.0, 10 / 3])  # debiased: no pull towards 0 at the start


def test_smooth_keeps_a_constant_series_and_weight_zero_is_identity() -> None:
    assert smooth([0.1] * 50, 0.9) == [0.1] * 50
    values = [3.0, -1.5, 2.25, 1e-9]
    assert smooth(values, 0.0) == values
    assert smooth([], 0.5) == []
    with pytest.raises(ValueError):
        smooth(values, 1.0)


def test_incremental_smoothing_equals_smoothing_the_whole_series() -> None:
    values = [5.0] * 10 + [4.0, 3.5, 3.0] + [2.0 + 0.1 * (k % 3) for k in range(30)]
    smoother = EmaSmoother(0.8)
    for end in (3, 10, 11, 12, 30, len(values)):  # constant at first, then not: smoothed from the start
        assert list(smoother.update(values[:end])) == smooth(values[:end], 0.8)
    assert list(smoother.update(values[:5])) == smooth(values[:5], 0.8)  # shorter: starts over


def test_smoothing_steps_and_stable_colours() -> None:
    assert step_smoothing(0.0, 1) == 0.1 and step_smoothing(0.9, 1) == 0.99 and step_smoothing(0.99, 1) == 0.99
    assert step_smoothing(0.99, -1) == 0.9 and step_smoothing(0.1, -1) == 0.0 and step_smoothing(0.0, -1) == 0.0
    ids = [f"260101-120000-run{k}-{k:04x}" for k in range(5)]
    colours = assign_colors(ids)
    assert len(set(colours.values())) == 5  # distinct within a view
    assert assign_colors(ids[:1])[ids[0]] == assign_colors(reversed(ids))[ids[0]]  # the first in id order
    assert all(c in PALETTE for c in colours.values())


def test_downsample_keeps_the_extremes_of_a_spiky_series() -> None:
    n = 100_000
    xs = list(range(n))
    ys = [1.0 + 0.01 * ((k * 7919) % 13) for k in range(n)]
    ys[31_337], ys[77_001] = 50.0, -3.0
    dx, dy = downsample(xs, ys, 60)
    assert len(dy) <= 3 * 60
    assert max(dy) == 50.0 and min(dy) == -3.0
    assert dx == sorted(dx) and dx[-1] == n - 1
    assert downsample(xs[:10], ys[:10], 60) == (xs[:10], ys[:10])


@pytest.mark.parametrize("buckets", [1, 7, 60, 211])
def test_downsample_of_a_long_buffer_picks_the_points_the_loop_picks(buckets: int) -> None:
    # series of NUMPY_FROM points or more held in array('d') (as the app holds them) go through numpy
    n = NUMPY_FROM + 12_345
    gen = random.Random(buckets)
    values = [float(gen.randrange(6)) for _ in range(n)]          # many ties: the first extreme must win
    values[gen.randrange(n)], values[gen.randrange(n)] = 99.0, -99.0
    xs = list(range(n))
    assert downsample(xs, array("d", values), buckets) == downsample(xs, values, buckets)
    values[5] = math.nan                                            # NaN: the loop decides, as for a list
    assert downsample(xs, array("d", values), buckets) == downsample(xs, values, buckets)


def test_time_axis_labels_stay_short() -> None:
    assert [time_label(s) for s in (45, 60, 70, 600, 5400, 86400 + 43200)] == ["45s", "1m", "1m10s", "10m", "1h30m",
                                                                               "1d12h"]
    assert time_label(3660) == fmt_duration(3660) == "1h01m"  # one formatter: the axis said 1h1m


# -- the system line -------------------------------------------------------------------------------


def test_worker_cost_is_read_from_proc_and_nvidia_smi_output() -> None:
    stat = "4242 (python -m sslterm) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0"
    assert cpu_ticks(stat) == 300  # utime + stime, whatever the spaces in the command
    assert rss_bytes("Name:\tpython\nVmRSS:\t  2048 kB\nThreads: 9\n") == 2048 * 1024
    gpus = "0, 00000000:01:00.0, 10, 1000, 81559\n1, 00000000:41:00.0, 87, 30000, 81559\n"
    apps = "999, 00000000:01:00.0, 500\n4242, 00000000:41:00.0, 29000\n"
    on_pid = pick_gpu(gpus, apps, 4242, 0)  # the pid says GPU 1, whatever cuda:0 means in its container
    assert on_pid is not None and (on_pid.index, on_pid.util_pct, on_pid.proc_mib) == (1, 87.0, 29000.0)
    by_device = pick_gpu(gpus, "", 4242, 0)  # pid not visible: the device's index
    assert by_device is not None and by_device.index == 0 and by_device.proc_mib is None
    assert pick_gpu("[N/A]\n", "", 1, 0) is None
    sampler = SystemSampler()
    first, second = sampler.sample(os.getpid(), "cpu"), sampler.sample(os.getpid(), "cpu")
    assert first.cpu_pct is None and first.rss_bytes and first.gpu is None
    assert second.cpu_pct is not None and second.cpu_pct >= 0
