"""Pure helpers on metric series for the charts: TensorBoard's smoothing, stable colours, a wall-time axis."""

from __future__ import annotations

import math
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence

RGB = tuple[int, int, int]

# Distinct on a dark terminal (Okabe-Ito, lightened where too dark, then a few more); order is part of the contract:
# a key's colour is PALETTE[crc32(key) % len(PALETTE)], so changing this list recolours every run and metric.
PALETTE: tuple[RGB, ...] = (
    (86, 180, 233), (230, 159, 0), (0, 190, 140), (240, 228, 66), (204, 121, 167), (235, 100, 40),
    (110, 150, 255), (175, 130, 255), (120, 225, 220), (255, 130, 130), (165, 210, 80), (200, 200, 200),
)
SMOOTHING_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)  # what + and - step through
MONO_MARKERS = ("braille", "+", "x", "o", "*", "#", "%", "@")  # plotext markers that tell curves apart in mono


def unit_of(metric: str) -> str:
    """What a metric is measured in, for charts that give each unit its own panel: losses share one, so do
    accuracies (fractions of 0 to 1), the learning rate has its own, and any other metric is its own unit."""
    if metric == "lr":
        return "lr"
    if "acc" in metric:
        return "fraction"
    if "loss" in metric:
        return "loss"
    return metric


def group_by_unit(units: Sequence[str | None], panels: int) -> list[list[int]]:
    """Indices of the curves in each panel: one panel per unit in order of first appearance, at most
    ``panels`` (the units past that share the last one). None (no unit given) goes with the first."""
    order: list[str | None] = []
    for unit in units:
        if unit not in order:
            order.append(unit)
    if None in order and len(order) > 1:
        order.remove(None)
    slot = {unit: min(i, max(1, panels) - 1) for i, unit in enumerate(order)}
    groups: list[list[int]] = [[] for _ in range(min(len(order), max(1, panels)))]
    for i, unit in enumerate(units):
        groups[slot.get(unit, 0)].append(i)
    return groups


def home_color(key: str) -> int:
    """The palette index a key's hash picks (the same in every process: crc32, not ``hash``)."""
    return zlib.crc32(key.encode("utf-8")) % len(PALETTE)


def assign_colors(keys: Iterable[str]) -> dict[str, RGB]:
    """A colour per key: the one its hash picks, or (taken by a key that sorts first) the next free one.

    A run or metric therefore keeps its colour in every view, except when it shares a view with a key
    whose hash collides with it; with more keys than colours, colours repeat.
    """
    out: dict[str, RGB] = {}
    used: set[int] = set()
    for key in sorted(set(keys)):
        home = home_color(key)
        slot = next((s % len(PALETTE) for s in range(home, home + len(PALETTE)) if s % len(PALETTE) not in used),
                     home)
        used.add(slot)
        out[key] = PALETTE[slot]
    return out


def assign_markers(keys: Iterable[str]) -> dict[str, str]:
    """A plotext marker per key for a chart without colour, in the keys' order: the first gets the solid
    braille line (repeating past eight)."""
    return {key: MONO_MARKERS[i % len(MONO_MARKERS)] for i, key in enumerate(dict.fromkeys(keys))}


def swatch(marker: str | None) -> str:
    """What stands for a curve in a legend: a square in its colour, or (mono) its marker's character."""
    if marker is None:
        return "■"
    return "⣿" if marker == "braille" else marker


def hex_color(rgb: RGB) -> str:
    """``#rrggbb`` for Rich styles."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


class EmaSmoother:
    """TensorBoard's debiased exponential moving average over a series that only grows.

    Call :meth:`update` with the whole series each time; only the values past those already seen are
    smoothed, so following a live run costs the new points. As in TensorBoard, non-finite values are
    passed through without entering the average, and a series whose values are all equal is left as is.
    """

    def __init__(self, weight: float) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
        self.weight = weight
        self.out: array[float] = array("d")  # a buffer, so the chart's downsampling can read it without a copy
        self._last = 0.0
        self._count = 0
        self._constant = True  # every value so far equals the first (NaN never equals anything)

    def reset(self) -> None:
        """Forget the series seen so far."""
        self.out = array("d")
        self._last, self._count, self._constant = 0.0, 0, True

    def update(self, values: Sequence[float]) -> array[float]:
        """The smoothed series for ``values``, which must extend the values of the previous call."""
        done = len(self.out)
        if len(values) < done:  # not an extension: start over
            self.reset()
            done = 0
        if self.weight == 0.0:
            self.out.extend(float(v) for v in values[done:])
            return self.out
        if self._constant:
            first = values[0] if values else 0.0
            k = done
            while k < len(values) and values[k] == first:
                k += 1
            self.out.extend(float(v) for v in values[done:k])
            if k == len(values):
                return self.out
            self._constant = False  # not constant after all: smooth everything from the start
            del self.out[:]
            done = 0
        w, last, count, out = self.weight, self._last, self._count, self.out
        for raw in values[done:]:
            v = float(raw)
            if not math.isfinite(v):
                out.append(v)
                continue
            last = last * w + (1.0 - w) * v
            count += 1
            out.append(last / (1.0 - w**count))
        self._last, self._count = last, count
        return out


def smooth(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's debiased EMA of ``values`` with ``weight`` in [0, 1); 0 returns the values unchanged."""
    return list(EmaSmoother(weight).update(values))


def step_smoothing(weight: float, direction: int) -> float:
    """The next smoothing level above (``direction`` 1) or below (-1) ``weight``, within [0, 0.99]."""
    if direction > 0:
        return next((w for w in SMOOTHING_LEVELS if w > weight + 1e-9), SMOOTHING_LEVELS[-1])
    return next((w for w in reversed(SMOOTHING_LEVELS) if w < weight - 1e-9), SMOOTHING_LEVELS[0])


def steps_to_times(steps: Sequence[float], clock_steps: Sequence[float], clock_times: Sequence[float]) -> list[float]:
    """The wall time (``t``) at each step, from a run's (step, t) records: the newest at or before it."""
    if not clock_steps:
        return [math.nan] * len(steps)
    out = []
    for s in steps:
        i = bisect_right(clock_steps, s) - 1
        out.append(clock_times[max(i, 0)])
    return out
