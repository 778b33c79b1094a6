"""Where training batches come from: an index gather on the device, or DataLoader workers streaming from host memory.

A dataset that fits stays on the training device and a batch is an index gather there (the
default). One that does not fit (``data.on_device = "auto"`` compares its size with the device's
free memory) stays in host memory: DataLoader worker processes gather each batch there, the loader
pins it (CUDA) and it is copied to the device without blocking, still as uint8 pixels where the
data is; decoding and augmentation then happen on the device as for resident data.

Either way the examples of step ``s`` are drawn by a generator seeded from (seed, rank, s) alone,
so a batch never depends on the batches before it: resuming needs no sampler state, a loader may
prefetch ahead, and on the CPU both ways give the same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch

from sslterm.data import Batch, Dataset, decode

FREE_FRACTION = 0.5
"""``auto`` keeps a dataset on a CUDA device when it takes at most this share of its free memory
(the rest is for weights, activations and the optimiser)."""

_MASK = (1 << 64) - 1


def keep_on_device(choice: str, data: Dataset, device: torch.device) -> bool:
    """Whether the training split goes to ``device`` (``data.on_device``: ``auto``, ``true`` or ``false``)."""
    if choice in ("true", "false"):
        return choice == "true"
    if device.type != "cuda":
        return True                                  # host memory is where the data already is
    free, _total = torch.cuda.mem_get_info(device)
    return data.nbytes() <= FREE_FRACTION * free


def step_seed(seed: int, rank: int, step: int) -> int:
    """A well-mixed 63-bit seed for the batch of (seed, rank, step) (splitmix64's finaliser)."""
    z = (seed * 0x9E3779B97F4A7C15 + (rank + 1) * 0xBF58476D1CE4E5B9 + step * 0x94D049BB133111EB) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return (z ^ (z >> 31)) >> 1


class StepSampler:
    """Positions [batch_size] into a shard of ``n`` examples for each step, drawn with replacement."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int, device: torch.device) -> None:
        self.n, self.batch_size, self.seed, self.rank = n, batch_size, seed, rank
        self.gen = torch.Generator(device=device)

    def __call__(self, step: int) -> torch.Tensor:
        self.gen.manual_seed(step_seed(self.seed, self.rank, step))      # host-side: no device sync
        return torch.randint(self.n, (self.batch_size,), generator=self.gen, device=self.gen.device)


def steps_per_epoch(n: int, batch_size: int, world: int) -> int:
    """Steps in which ``world`` processes of ``batch_size`` examples each visit ``n`` examples once."""
    return max(1, -(-n // (batch_size * world)))


class EpochSampler:
    """Example indices (≤ batch_size) into the whole training split for each step, epoch by epoch.

    Step s (1-based) is step k of epoch e, (e, k) = divmod(s − 1, steps per epoch). An epoch's order
    is a permutation of all n examples seeded by (seed, e) alone, the same on every rank, cut into
    steps × world nearly equal contiguous slots (of ⌊n / slots⌋ or ⌈n / slots⌉ ≤ batch_size examples:
    no short last batch); rank r takes slot k × world + r at step k. So each epoch visits every example
    exactly once across all ranks (unless there are fewer examples than slots, when an empty slot
    repeats one), and a step's examples depend on (seed, rank, step) alone: resuming needs no sampler state.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int, world: int, device: torch.device) -> None:
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.per_epoch = steps_per_epoch(n, batch_size, world)
        self.gen = torch.Generator(device=device)
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def epoch(self, step: int) -> int:
        """The 0-based epoch of 1-based ``step``."""
        return (step - 1) // self.per_epoch

    def __call__(self, step: int) -> torch.Tensor:
        epoch, k = divmod(step - 1, self.per_epoch)
        if epoch != self._epoch:                                           # one permutation per epoch
            self.gen.manual_seed(step_seed(self.seed, -1, epoch))          # rank -1: shared by every rank
            self._order = torch.randperm(self.n, generator=self.gen, device=self.gen.device)
            self._epoch = epoch
        slots, slot = self.per_epoch * self.world, k * self.world + self.rank
        lo, hi = self.n * slot // slots, self.n * (slot + 1) // slots
        return self._order[lo:hi] if hi > lo else self._order[min(lo, self.n - 1):][:1]


class Shard:
    """A rank's examples of a training split of ``n``: example ``(rank + i × world) × step`` for position ``i``,
    computed, not stored (a text stream has one example per token: a list of them would take 8 bytes per token;
    ``step`` = the window picks a text's non-overlapping windows)."""

    def __init__(self, n: int, rank: int = 0, world: int = 1, step: int = 1) -> None:
        self.rank, self.world, self.step = rank, world, step
        self.n = max(0, -(-(n - rank) // world))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, positions: torch.Tensor) -> torch.Tensor:
        at = positions * self.world + self.rank if self.world > 1 else positions
        return at * self.step if self.step > 1 else at


Sampler = Callable[[int], torch.Tensor]
"""Positions into a shard for a step: a :class:`StepSampler` or an :class:`EpochSampler`."""


class Batches(Protocol):
    """A source of training batches: the batch of a step and its labels (None when unlabelled or not asked for)."""

    def get(self, step: int) -> tuple[Batch, torch.Tensor | None]: ...

    def close(self) -> None: ...


class DeviceBatches:
    """Batches gathered on the device from a training split that lives there."""

    def __init__(self, data: Dataset, shard: Shard, sampler: Sampler, labels: bool) -> None:
        self.data, self.shard, self.sampler = data, shard, sampler
        self.labels = labels and data.y_train is not None

    def get(self, step: int) -> tuple[Batch, torch.Tensor | None]:
        """The batch of ``step``: one index gather per tensor, no host round trip."""
        idx = self.shard[self.sampler(step)]
        y = self.data.y_train[idx] if self.labels and self.data.y_train is not None else None
        return self.data.batch("train", idx), y

    def close(self) -> None:
        """Nothing to release."""


class _Rows(torch.utils.data.Dataset[Batch]):
    """A training split in host memory, indexed by a whole batch of positions at once (in a worker)."""

    def __init__(self, data: Dataset, labels: bool) -> None:
        self.data, self.labels = data, labels and data.y_train is not None

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: torch.Tensor) -> Batch:
        rows = self.data.rows("train", idx)
        if self.labels and self.data.y_train is not None:
            rows["y"] = self.data.y_train[idx]
        return rows


class _Steps(torch.utils.data.Sampler[torch.Tensor]):
    """The example indices of steps ``first``..``last`` in order (run in the main process, ahead of use)."""

    def __init__(self, sampler: Sampler, shard: Shard, first: int, last: int) -> None:
        self.sampler, self.shard, self.first, self.last = sampler, shard, first, last

    def __len__(self) -> int:
        return max(0, self.last - self.first + 1)

    def __iter__(self) -> Iterator[torch.Tensor]:
        for step in range(self.first, self.last + 1):
            yield self.shard[self.sampler(step)]


class StreamBatches:
    """Batches made by DataLoader workers from host memory, pinned (CUDA) and copied without blocking."""

    def __init__(self, data: Dataset, shard: Shard, sampler: Sampler, labels: bool,
                 device: torch.device, first: int, last: int, workers: int) -> None:
        from torch.utils.data import DataLoader

        self.device, self.next_step = device, first
        loader = DataLoader(_Rows(data, labels), sampler=_Steps(sampler, shard, first, last), batch_size=None,
                            num_workers=workers, pin_memory=device.type == "cuda",
                            prefetch_factor=4 if workers else None)
        self._it: Iterator[Any] | None = iter(loader)

    def get(self, step: int) -> tuple[Batch, torch.Tensor | None]:
        """The batch of ``step`` (steps are taken in order), decoded on the device."""
        if step != self.next_step:
            raise RuntimeError(f"streamed batches are taken in order: expected step {self.next_step}, got {step}")
        if self._it is None:
            raise RuntimeError("the batch stream is closed")
        self.next_step += 1
        rows = {k: v.to(self.device, non_blocking=True) for k, v in next(self._it).items()}
        y = rows.pop("y", None)
        return {k: decode(v) for k, v in rows.items()}, y

    def close(self) -> None:
        """Stop the worker processes (dropping the loader's iterator shuts them down)."""
        self._it = None
