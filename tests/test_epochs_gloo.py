"""Two real processes (gloo on the CPU): each epoch visits every training example exactly once across both
ranks, and a run stopped mid-epoch resumes with the same order."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.multiprocessing as mp

from sslterm import config
from sslterm.data import stream
from sslterm.data.stream import EpochSampler
from sslterm.store import Run, create_run
from sslterm.train.loop import train
from sslterm.utils.dist import cleanup
from tests.conftest import TINY
from tests.test_distributed import free_port

WORLD, N, BATCH = 2, 64, 8                       # 64 training examples: 4 steps of 2 × 8 per epoch
PER_EPOCH, STOP_AT = 4, 6                        # stopped at step 6: step 2 of the second epoch
SETS = (*TINY, f"data.num_samples={N}", "data.num_eval=16", "train.epochs=2", f"train.batch_size={BATCH}",
        "train.log_every=1", "train.snapshot_every=100", "train.checkpoint_every=100", "eval.every=0")


def _rank(rank: int, port: int, run_dir: str, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    seen: dict[int, list[int]] = {}
    gather = stream.DeviceBatches.get

    def get(self: stream.DeviceBatches, step: int) -> tuple[stream.Batch, torch.Tensor | None]:
        seen[step] = self.shard[self.sampler(step)].tolist()          # the examples this rank trains on
        return gather(self, step)

    stream.DeviceBatches.get = get  # type: ignore[method-assign]
    exp = config.from_overrides(SETS)
    asked: list[int] = []                        # with 2 processes the stop is asked at log steps: every step

    def stop() -> bool:
        asked.append(1)
        return len(asked) == STOP_AT

    first = train(exp, Run(Path(run_dir)), stop, lambda s, d: None)
    before = dict(seen)
    seen.clear()
    last = train(exp, Run(Path(run_dir)), lambda: False, lambda s, d: None, resume=True)
    Path(out, f"rank{rank}.json").write_text(json.dumps({"stopped": [first.stopped, first.step], "end": last.step,
                                                         "before": before, "after": seen}))
    cleanup(sync=True)


def test_each_epoch_covers_every_example_once_across_two_processes_and_resume_keeps_the_order(
        tmp_path: Path) -> None:
    run = create_run(tmp_path, "epochs")
    mp.spawn(_rank, args=(free_port(), str(run.path), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]
    assert all(r["stopped"] == [True, STOP_AT] and r["end"] == 2 * PER_EPOCH for r in ranks)
    assert all(sorted(map(int, r["before"])) == list(range(1, STOP_AT + 1)) for r in ranks)
    assert all(sorted(map(int, r["after"])) == list(range(STOP_AT + 1, 2 * PER_EPOCH + 1)) for r in ranks)
    seen = [{int(s): idx for part in ("before", "after") for s, idx in r[part].items()} for r in ranks]
    for epoch in range(2):
        steps = range(epoch * PER_EPOCH + 1, (epoch + 1) * PER_EPOCH + 1)
        visited = [i for s in steps for rank in seen for i in rank[s]]
        assert sorted(visited) == list(range(N)), f"epoch {epoch + 1}: every example once, on one rank"
    for rank, taken in enumerate(seen):          # after the stop: the order the epoch had begun, as if never stopped
        sampler = EpochSampler(N, BATCH, config.from_overrides(SETS).seed, rank, WORLD, torch.device("cpu"))
        assert sampler.per_epoch == PER_EPOCH and all(taken[s] == sampler(s).tolist() for s in taken)
