"""A sweep's definition (grid axes, random distributions, seeds) and its expansion into validated trials."""

from __future__ import annotations

import itertools
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

from sslterm import config
from sslterm.errors import ConfigError
from sslterm.overrides import parse_override

KINDS = ("uniform", "loguniform", "int", "choice")
SEARCHES = ("optuna",)
DIRECTIONS = ("maximize", "minimize")
TABLE_KEYS = ("grid", "random", "trials", "seeds", "sample_seed", "search", "metric", "direction", "prune",
              "prune_startup", "prune_warmup")
SWEEP_TABLE = "sweep"
MAX_TRIALS = 10_000


class SweepError(ConfigError):
    """A bad sweep definition or a trial whose configuration is refused; one line for the user."""


@dataclass(frozen=True)
class Dist:
    """A random-search distribution of one key: ``uniform:LOW:HIGH``, ``loguniform:LOW:HIGH``,
    ``int:LOW:HIGH`` (both ends included) or ``choice:A,B,C``."""

    key: str
    kind: str
    args: tuple[Any, ...]

    def sample(self, rng: random.Random) -> Any:
        if self.kind == "choice":
            return rng.choice(self.args)
        low, high = self.args
        if self.kind == "int":
            return rng.randint(int(low), int(high))
        if self.kind == "loguniform":
            return float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.4g}")
        return float(f"{rng.uniform(low, high):.4g}")

    def corners(self) -> list[Any]:
        """The values at the edges of the distribution (every choice)."""
        return list(self.args) if self.kind == "choice" else [self.args[0], self.args[1]]

    def text(self) -> str:
        sep = "," if self.kind == "choice" else ":"
        return f"{self.key}={self.kind}:{sep.join(_literal(a) for a in self.args)}"


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: ``grid`` axes (every combination), ``random`` distributions (``trials`` samples,
    drawn with ``sample_seed``), each setting trained with ``seeds`` seeds (the experiment's seed, +1, ...).

    With ``search = "optuna"`` the ``trials`` settings are proposed one at a time by Optuna's TPE sampler
    (seeded with ``sample_seed``) from the finished trials' ``metric``, over the grid's values and the random
    distributions; ``prune`` stops a trial whose online metric trails the median of the earlier trials at the
    same step, after ``prune_startup`` finished trials and past step ``prune_warmup`` (None: a quarter of
    ``train.steps``)."""

    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    random: tuple[Dist, ...] = ()
    trials: int = 0
    seeds: int = 1
    sample_seed: int = 0
    search: str = ""
    metric: str = ""
    direction: str = ""
    prune: bool = True
    prune_startup: int = 2
    prune_warmup: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"grid": {k: list(v) for k, v in self.grid}, "random": [d.text() for d in self.random],
                               "trials": self.trials, "seeds": self.seeds, "sample_seed": self.sample_seed}
        if self.search:
            out.update(search=self.search, metric=self.metric, direction=self.direction, prune=self.prune,
                       prune_startup=self.prune_startup)
            if self.prune_warmup is not None:
                out["prune_warmup"] = self.prune_warmup
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        return make_spec([f"{k}={','.join(_literal(v) for v in vs)}" for k, vs in data.get("grid", {}).items()],
                         list(data.get("random", [])), int(data.get("trials", 0)), int(data.get("seeds", 1)),
                         int(data.get("sample_seed", 0)), source="spec", **search_options(data))

    def swept_keys(self) -> list[str]:
        """The swept keys, grid's first."""
        return [k for k, _ in self.grid] + [d.key for d in self.random]


def search_options(data: dict[str, Any]) -> dict[str, Any]:
    """The search keywords of :func:`make_spec` found in ``data`` (a ``[sweep]`` table or ``spec.json``)."""
    return {k: data[k] for k in ("search", "metric", "direction", "prune", "prune_startup", "prune_warmup")
            if k in data}


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: its id (``t001``), the swept keys' values and its seed."""

    id: str
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def overrides(self) -> list[str]:
        """``--set`` style overrides that make this trial's configuration from the experiment's."""
        return [f"{k}={_literal(v)}" for k, v in self.settings.items()] + [f"seed={self.seed}"]

    def label(self) -> str:
        return ", ".join(f"{k}={_literal(v)}" for k, v in self.settings.items()) or "(base)"


def _literal(value: Any) -> str:
    """``value`` as a TOML literal (strings quoted, booleans lower-case)."""
    return json.dumps(value) if not isinstance(value, float) else repr(value)


def _fail(source: str, key: str, reason: str, given: Any = None, allowed: str | None = None) -> SweepError:
    where = f"{source}: {key}: " if key else f"{source}: "
    return SweepError(f"{where}{reason}", source=source, keys=(key,) if key else (), given=given,
                      allowed=allowed, reason=reason)


def parse_grid(text: str, source: str = "--grid") -> tuple[str, tuple[Any, ...]]:
    """``table.key=v1,v2,...`` as the key and its values (each parsed as ``--set`` parses one)."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise _fail(source, key, f"got {text!r}, expected table.key=v1,v2,... such as objective.temperature=0.1,0.2",
                    given=text, allowed="table.key=v1,v2,...")
    parsed = tuple(parse_override(f"{key}={v.strip()}")[1] for v in values.split(","))
    if len(set(map(_literal, parsed))) != len(parsed):
        raise _fail(source, key, f"lists a value twice ({values.strip()})", given=values, allowed="distinct values")
    return key, parsed


def parse_random(text: str, source: str = "--random") -> Dist:
    """``table.key=KIND:ARGS`` (uniform, loguniform, int: LOW:HIGH; choice: A,B,...) as a distribution."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    kind, _, args = rest.partition(":")
    allowed = "uniform:LOW:HIGH, loguniform:LOW:HIGH, int:LOW:HIGH or choice:A,B,..."
    if not sep or not key or kind not in KINDS or not args:
        raise _fail(source, key, f"got {text!r}, expected table.key= then {allowed}", given=text, allowed=allowed)
    if kind == "choice":
        return Dist(key, kind, tuple(parse_override(f"{key}={a.strip()}")[1] for a in args.split(",")))
    parts = args.split(":")
    try:
        low, high = (int(p) if kind == "int" else float(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        low = high = None
    if low is None or high is None or not low < high or (kind == "loguniform" and low <= 0) or not all(
            math.isfinite(x) for x in (low, high)):
        need = "0 < LOW < HIGH" if kind == "loguniform" else "LOW < HIGH"
        raise _fail(source, key, f"got {kind}:{args}, expected {kind}:LOW:HIGH with {need}", given=args,
                    allowed=f"{kind}:LOW:HIGH, {need}")
    return Dist(key, kind, (low, high))


def make_spec(grid: list[str], rand: list[str], trials: int, seeds: int, sample_seed: int = 0,
              source: str = "command line", search: str = "", metric: str = "", direction: str = "",
              prune: bool = True, prune_startup: int = 2, prune_warmup: int | None = None) -> SweepSpec:
    """A spec from ``--grid``/``--random`` texts (and the search options); SweepError (one line) for a bad one."""
    axes = tuple(parse_grid(g) for g in grid)
    dists = tuple(parse_random(r) for r in rand)
    keys = [k for k, _ in axes] + [d.key for d in dists]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise _fail(source, twice[0], "is swept twice; give each key once", given=twice[0])
    if "seed" in keys and seeds > 1:
        raise _fail(source, "seed", "is swept and --seeds is above 1; choose one", given="seed")
    if seeds < 1:
        raise _fail(source, "--seeds", f"got {seeds}, expected 1 or more", given=seeds, allowed="1 or more")
    if search:
        _check_search(source, keys, trials, seeds, search, metric, direction, prune_startup, prune_warmup)
        direction = direction or ("minimize" if "loss" in metric else "maximize")
    elif dists and trials < 1:
        raise _fail(source, "--trials", "random search needs --trials N (N ≥ 1)", given=trials, allowed="N ≥ 1")
    elif not dists and trials:
        raise _fail(source, "--trials", "applies to --random and --search only", given=trials)
    elif metric or direction:
        raise _fail(source, "--metric" if metric else "--direction", "applies to --search optuna only")
    spec = SweepSpec(grid=axes, random=dists, trials=trials, seeds=seeds, sample_seed=sample_seed, search=search,
                     metric=metric, direction=direction, prune=prune, prune_startup=prune_startup,
                     prune_warmup=prune_warmup)
    n = trials if search else math.prod(len(v) for _, v in axes) * max(trials, 1) * seeds
    if n > MAX_TRIALS:
        raise _fail(source, "", f"{n} trials; at most {MAX_TRIALS} in one sweep", given=n, allowed=f"≤ {MAX_TRIALS}")
    return spec


def _check_search(source: str, keys: list[str], trials: int, seeds: int, search: str, metric: str, direction: str,
                  prune_startup: int, prune_warmup: int | None) -> None:
    """The rules of a search that learns (``--search optuna``); SweepError for the first one broken."""
    if search not in SEARCHES:
        raise _fail(source, "--search", f"got {search!r}, expected optuna (grid and random need no --search)",
                    given=search, allowed="optuna")
    if not keys:
        raise _fail(source, "--search", "needs a space to search: --random KEY=DIST (or --grid KEY=A,B)")
    if trials < 1:
        raise _fail(source, "--trials", "--search optuna needs --trials N (N ≥ 1)", given=trials, allowed="N ≥ 1")
    if seeds != 1:
        raise _fail(source, "--seeds", "--search optuna trains each proposed setting once; leave --seeds at 1",
                    given=seeds, allowed="1")
    if not metric or not all(c.isalnum() or c in "_./-" for c in metric) or metric.startswith("eval."):
        raise _fail(source, "--metric", f"got {metric!r}; --search optuna needs the metric to learn from, as the "
                    "runs log it (knn_acc, probe_acc, loss, eval_loss, ...; not eval.*, which sslterm eval makes)",
                    given=metric, allowed="a metric of the runs' log")
    if direction not in ("", *DIRECTIONS):
        raise _fail(source, "--direction", f"got {direction!r}, expected maximize or minimize", given=direction,
                    allowed="maximize, minimize")
    if prune_startup < 0 or (prune_warmup is not None and prune_warmup < 0):
        key, val = ("--prune-startup", prune_startup) if prune_startup < 0 else ("--prune-warmup", prune_warmup)
        raise _fail(source, key, f"got {val}, expected 0 or more", given=val, allowed="0 or more")


def spec_from_table(table: Any, source: str) -> SweepSpec:
    """The ``[sweep]`` table of an experiment file: ``grid = {"train.lr" = [1e-3, 3e-3]}``,
    ``random = {"train.lr" = "loguniform:1e-4:1e-2"}``, ``trials = N``, ``seeds = N``."""
    src = f"{source}: [sweep]"
    if not isinstance(table, dict):
        raise _fail(src, "", "expected a table")
    unknown = sorted(set(table) - set(TABLE_KEYS))
    if unknown:
        raise _fail(src, unknown[0], f"is not a sweep key; allowed: {', '.join(TABLE_KEYS)}",
                    given=unknown[0], allowed=", ".join(TABLE_KEYS))
    grid, rand = table.get("grid", {}), table.get("random", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise _fail(src, "grid", 'expected a table of non-empty lists, e.g. grid = {"train.lr" = [1e-3, 3e-3]}')
    if not isinstance(rand, dict) or not all(isinstance(v, str) for v in rand.values()):
        raise _fail(src, "random", 'expected a table of strings, e.g. random = {"train.lr" = "loguniform:1e-4:1e-2"}')
    ints = {k: table.get(k, d) for k, d in (("trials", 0), ("seeds", 1), ("sample_seed", 0), ("prune_startup", 2),
                                            ("prune_warmup", 0))}
    for k, v in ints.items():
        if not isinstance(v, int) or isinstance(v, bool):
            raise _fail(src, k, f"got {v!r}, expected a whole number", given=v, allowed="a whole number")
    for k, want in (("search", str), ("metric", str), ("direction", str), ("prune", bool)):
        if k in table and not isinstance(table[k], want):
            kind = "true or false" if want is bool else "a string"
            raise _fail(src, k, f"got {table[k]!r}, expected {kind}", given=table[k], allowed=kind)
    return make_spec([f"{k}={','.join(_literal(x) for x in v)}" for k, v in grid.items()],
                     [f"{k}={v}" for k, v in rand.items()], ints["trials"], ints["seeds"], ints["sample_seed"], src,
                     **search_options(table))


def split_sweep(raw: dict[str, Any], source: str) -> tuple[dict[str, Any], SweepSpec | None]:
    """An experiment file's data without its ``[sweep]`` table (config.build refuses unknown tables), and that
    table as a spec (None when there is none)."""
    if SWEEP_TABLE not in raw:
        return raw, None
    rest = {k: v for k, v in raw.items() if k != SWEEP_TABLE}
    return rest, spec_from_table(raw[SWEEP_TABLE], source)


def expand(spec: SweepSpec, base_seed: int = 0) -> list[Trial]:
    """Every trial of ``spec``: the grid's combinations (× the random samples, drawn reproducibly from
    ``spec.sample_seed``), each with ``spec.seeds`` seeds counting up from ``base_seed``. A search that learns
    gives ``spec.trials`` trials whose settings are chosen when each starts (see :mod:`sslterm.sweep.search`)."""
    if spec.search:
        width = max(3, len(str(spec.trials)))
        return [Trial(f"t{i + 1:0{width}d}", {}, base_seed) for i in range(spec.trials)]
    keys = [k for k, _ in spec.grid]
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in spec.grid))]
    if spec.random:
        rng = random.Random(spec.sample_seed)
        samples = [{d.key: d.sample(rng) for d in spec.random} for _ in range(spec.trials)]
        points = [{**p, **s} for p in points for s in samples]
    settings = [(p, base_seed + s) for p in points for s in range(spec.seeds)]
    width = max(3, len(str(len(settings))))
    return [Trial(f"t{i + 1:0{width}d}", p, seed) for i, (p, seed) in enumerate(settings)]


def trial_raw(base: dict[str, Any], trial: Trial) -> dict[str, Any]:
    """The raw configuration of ``trial``: the experiment's with the trial's keys and seed set."""
    return config.overridden(base, trial.overrides())


def build_trial(base: dict[str, Any], trial: Trial, source: str, name: str, what: str = "") -> config.Experiment:
    """``trial``'s validated experiment, named ``name``; SweepError naming the trial (or ``what``) and the key."""
    what = what or f"trial {trial.id}"
    try:
        raw = trial_raw(base, trial)
        raw["name"] = name
        return config.build(raw, source=source if what.startswith("the search space") else f"{source} ({what})")
    except ConfigError as e:
        key = e.key or next(iter(trial.settings), "")
        raise SweepError(f"{what} ({trial.label()}): {e}", source=what, keys=e.keys or (key,),
                         given=e.given, allowed=e.allowed, reason=e.reason) from None


def check_space(base: dict[str, Any], spec: SweepSpec, source: str, name: str, base_seed: int = 0) -> None:
    """Validate a search that learns before it starts: every key at each edge of its range (every grid value and
    choice), the others at their first; SweepError for the first configuration refused."""
    axes = [(k, list(vs)) for k, vs in spec.grid] + [(d.key, d.corners()) for d in spec.random]
    firsts = {k: vs[0] for k, vs in axes}
    seen: set[str] = set()
    for key, values in axes:
        for v in values:
            trial = Trial("space", {**firsts, key: v}, base_seed)
            if trial.label() not in seen:
                seen.add(trial.label())
                build_trial(base, trial, source, name, what="the search space at")


def build_all(base: dict[str, Any], trials: list[Trial], source: str, name: str) -> list[config.Experiment]:
    """Every trial's experiment, validated before anything starts (the first refused one raises SweepError)."""
    return [build_trial(base, t, source, f"{name}-{t.id}") for t in trials]
