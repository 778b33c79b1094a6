"""The launcher's sweep mode: a field's list (``0.1, 0.2, 0.5``) or range (``1e-4..1e-2 log 5``, ``1..8 step 2``)
of values, the seeds per setting, and the ``[sweep]`` table they make (no UI, no torch)."""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from sslterm.catalog import Param
from sslterm.config import ConfigError, build, parse_override
from sslterm.sweep.spec import SweepSpec, expand, spec_from_table

SEEDS = "sweep.seeds"
SEEDS_PARAM = Param("seeds", int, 1, "Seeds per setting: each trains with seed, seed + 1, ... (above 1: a sweep).",
                    low=1, high=1000)
PARALLEL = "sweep.parallel"
PARALLEL_PARAM = Param("parallel", int, 0, "Trials at once on this machine while sweeping (0: one per visible GPU, "
                       "one on a machine without; as sslterm sweep --parallel).", low=0, high=64)
PLAN_PARAMS = {SEEDS: SEEDS_PARAM, PARALLEL: PARALLEL_PARAM}
"""The sweep's own rows of the form: not keys of the experiment, but of its :class:`SweepPlan`."""
NOT_SWEPT = {"name": "the name is the sweep's own; sweep another field",
             "seed": "the seed is set by the seeds field below it; sweep another field"}
MAX_VALUES = 1000
RANGE = re.compile(r"(?P<low>[^.\s][^\s]*?)\s*\.\.\s*(?P<high>\S+)\s+(?P<how>log|lin|step)\s+(?P<n>\S+)")
RANGE_FORMS = "LOW..HIGH log N, LOW..HIGH lin N or LOW..HIGH step S (1e-4..1e-2 log 5, 1..8 step 2)"


def _entry(param: Param, text: str) -> Any:
    return text if param.type is str else parse_override(f"value={text}")[1]


def _number(param: Param, text: str, what: str) -> float:
    value = _entry(param, text)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not a number; a range reads {RANGE_FORMS}")
    return value


def _tidy(param: Param, v: float) -> Any:
    """A computed value as it would be typed: an int for an int field, else a float in 4 significant digits."""
    return round(v) if param.type is int else float(f"{v:.4g}")


def parse_values(param: Param, text: str) -> tuple[Any, ...]:
    """The values ``text`` lists (``A, B, C``) or spans (a range); ValueError, one line, when it does neither."""
    text = text.strip()
    if not text:
        raise ValueError(f"no values; give a list (0.1, 0.2, 0.5) or a range: {RANGE_FORMS}")
    if ".." in text and param.type is not str:
        m = RANGE.fullmatch(text)
        if m is None:
            raise ValueError(f"{text!r} is not a range; a range reads {RANGE_FORMS}")
        low, high = _number(param, m["low"], "the low end"), _number(param, m["high"], "the high end")
        if not low < high:
            raise ValueError(f"{text!r}: the low end must be below the high end")
        if m["how"] == "step":
            step = _number(param, m["n"], "the step")
            if step <= 0 or (high - low) / step >= MAX_VALUES:
                raise ValueError(f"{text!r}: the step must be above 0 and give at most {MAX_VALUES} values")
            count = math.floor((high - low) / step + 1e-9) + 1
            raw = [low + i * step for i in range(count)]
        else:
            n = _entry(param, m["n"])
            if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_VALUES:
                raise ValueError(f"{text!r}: {m['how']} needs a whole number of values from 2 to {MAX_VALUES}")
            if m["how"] == "log" and low <= 0:
                raise ValueError(f"{text!r}: a log range needs 0 < LOW")
            if m["how"] == "log":
                raw = [low * (high / low) ** (i / (n - 1)) for i in range(n)]
            else:
                raw = [low + (high - low) * i / (n - 1) for i in range(n)]
        return tuple(dict.fromkeys(_tidy(param, v) for v in raw))  # an int range may round two values together
    parts = [p.strip() for p in text.split(",")]
    if not all(parts):
        raise ValueError(f"{text!r} has an empty value; separate the values with commas: 0.1, 0.2, 0.5")
    values = tuple(_entry(param, p) for p in parts)
    if len({json.dumps(v) for v in values}) != len(values):
        raise ValueError(f"{text!r} lists a value twice")
    if len(values) > MAX_VALUES:
        raise ValueError(f"{len(values)} values; at most {MAX_VALUES} in one field")
    return values


def shown(value: Any) -> str:
    """A value as the user typed it: strings bare, numbers as TOML writes them."""
    return value if isinstance(value, str) else json.dumps(value) if not isinstance(value, float) else repr(value)


def refused_value(raw: dict[str, Any], key: str, values: tuple[Any, ...], base: str | None) -> str | None:
    """Why one of ``values`` cannot be ``key`` of the experiment ``raw`` (the loader's rules, one value at a time):
    the first refused one named, or None. ``base`` is the draft's own problem, not the values'."""
    if key in NOT_SWEPT:
        return NOT_SWEPT[key]
    from sslterm.tui.draft import SOURCE, Problem, _put

    for value in values:
        trial = copy.deepcopy(raw)
        _put(trial, key, value)
        try:
            build(trial, source=SOURCE)
        except ConfigError as e:
            problem = Problem.of(e)
            reason = problem.reason if problem.keys == (key,) else problem.text()
            if problem.text() != base:
                return reason if f"got {shown(value)}" in reason else f"{shown(value)}: {reason}"
    return None


def values_problem(raw: dict[str, Any], key: str, param: Param, text: str, base: str | None) -> str | None:
    """Why sweeping ``key`` over ``text`` cannot be: not a list or range, or a value refused; None when it can."""
    if not text.strip():
        return None
    try:
        values = parse_values(param, text)
    except (ValueError, ConfigError) as e:
        return str(e)
    return refused_value(raw, key, values, base)


def plan_value_problem(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be the sweep row ``key`` (seeds, parallel), or None."""
    param = PLAN_PARAMS[key]
    if isinstance(value, bool) or not isinstance(value, int) or not param.accepts(value):
        return f"got {value!r}, expected {param.allowed()}"
    return None


def plan_problem(raw: dict[str, Any], plan: SweepPlan) -> tuple[tuple[str, ...], str] | None:
    """The keys and reason of the first swept value the loader refuses, or of bad seeds or slots; None when all
    would run."""
    for key in PLAN_PARAMS:
        bad = plan_value_problem(key, plan.get(key))
        if bad is not None:
            return (key,), bad
    for key, values in plan.values.items():
        refused = refused_value(raw, key, values, None)
        if refused is not None:
            return (key,), refused
    return None


@dataclass
class SweepPlan:
    """What the launcher sweeps: each swept key's typed text and values, the seeds, the trials run at once, and
    what a file's ``[sweep]`` table held that the form does not edit (random search), kept as it was."""

    texts: dict[str, str] = field(default_factory=dict)
    values: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    seeds: int = 1
    kept: dict[str, Any] = field(default_factory=dict)
    parallel: int = 0  # a launch option (sslterm sweep --parallel), not part of the [sweep] table

    def get(self, key: str) -> Any:
        """The value of a sweep row (:data:`PLAN_PARAMS`)."""
        return getattr(self, PLAN_PARAMS[key].name)

    def put(self, key: str, value: Any) -> None:
        setattr(self, PLAN_PARAMS[key].name, value)

    @classmethod
    def from_table(cls, table: dict[str, Any] | None) -> SweepPlan:
        """The plan of a file's (checked) ``[sweep]`` table; an empty plan for None."""
        if not table:
            return cls()
        grid = {k: tuple(v) for k, v in table.get("grid", {}).items()}
        kept = {k: copy.deepcopy(v) for k, v in table.items() if k not in ("grid", "seeds")}
        return cls({k: ", ".join(shown(x) for x in v) for k, v in grid.items()}, grid, int(table.get("seeds", 1)), kept)

    @property
    def active(self) -> bool:
        return bool(self.values or self.seeds > 1 or self.kept.get("random"))

    def set(self, key: str, text: str, values: tuple[Any, ...]) -> None:
        self.texts[key], self.values[key] = text, values

    def drop(self, key: str) -> None:
        self.texts.pop(key, None)
        self.values.pop(key, None)

    def table(self) -> dict[str, Any] | None:
        """The ``[sweep]`` table of the experiment file, or None when nothing is swept."""
        if not self.active:
            return None
        out: dict[str, Any] = {}
        if self.values:
            out["grid"] = {k: list(v) for k, v in self.values.items()}
        out.update(copy.deepcopy(self.kept))
        if self.seeds > 1:
            out["seeds"] = self.seeds
        return out

    def spec(self) -> SweepSpec:
        """The spec ``sslterm sweep`` would read from :meth:`table` (SweepError, one line, otherwise)."""
        return spec_from_table(self.table() or {}, "launcher")

    def count_text(self, spec: SweepSpec) -> str:
        """``9 runs (3 values × 3 seeds)``: how many runs, and what multiplies to that."""
        n = len(expand(spec))
        if spec.search:  # a search that learns: its trials' settings are chosen as each starts
            return f"{n} run{'s' * (n != 1)} ({spec.search} search, {spec.metric or 'its metric'})"
        parts = [f"{len(v)} values" if len(spec.grid) == 1 else str(len(v)) for _, v in spec.grid]
        if len(spec.grid) > 1:
            parts = [" × ".join(parts) + " values"]
        if spec.random:
            parts.append(f"{spec.trials} random samples")
        if spec.seeds > 1:
            parts.append(f"{spec.seeds} seeds")
        return f"{n} run{'s' * (n != 1)} ({' × '.join(parts)})"
