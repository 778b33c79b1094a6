"""The experiment the launcher edits: a draft in the shape of a TOML file, the edits that keep it whole, its checks.

Every list the form shows comes from :mod:`sslterm.catalog` and the config dataclasses, and every check is
:func:`sslterm.config.build`, the loader's own; nothing here knows a modality, objective or parameter by name.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sslterm import catalog
from sslterm.catalog import Param
from sslterm.config import (
    ConfigError,
    DataConfig,
    EvalConfig,
    Experiment,
    ModelConfig,
    ObjectiveConfig,
    TrainConfig,
    build,
    default_augment,
    parse_override,
    read_toml,
    section_params,
)
from sslterm.sweep.spec import SWEEP_TABLE, spec_from_table
from sslterm.tui.sweep_values import (
    PLAN_PARAMS,
    SweepPlan,
    parse_values,
    plan_problem,
    plan_value_problem,
    values_problem,
)

SOURCE = "launcher"
TABLES: dict[str, type] = {"data": DataConfig, "objective": ObjectiveConfig, "model": ModelConfig,
                           "train": TrainConfig, "eval": EvalConfig}
TITLES = {"": "Experiment", "data": "Data", "objective": "Objective", "augment": "Augmentations",
          "model": "Model", "train": "Training", "eval": "Evaluation",
          "sweep": "Sweep (w on a field: a list or range of values)"}


@dataclass(frozen=True)
class Problem:
    """Why a draft is not an experiment the loader accepts, from the ConfigError's fields (never its message).

    ``keys`` are the full keys involved: one for a value, two or more for a rule between keys, none for a
    problem with the whole file; ``reason`` is the one-line explanation without the key.
    """

    keys: tuple[str, ...]
    reason: str

    @classmethod
    def of(cls, e: ConfigError) -> Problem:
        return cls(tuple(e.keys), e.reason.removeprefix(f"{e.source}: ") if e.source else e.reason)

    def text(self) -> str:
        """One line: the keys, then the reason."""
        return f"{' / '.join(self.keys)}: {self.reason}" if self.keys else self.reason


@dataclass(frozen=True)
class FieldSpec:
    """One row of the form: the key as ConfigError names it, its parameter, and how it is edited."""

    key: str
    param: Param
    kind: str
    """``choice`` (one of ``choices``), ``flag`` (true/false), ``augmentation`` (on/off) or ``value`` (typed)."""
    choices: tuple[str, ...] = ()
    indent: int = 0


def _kinds(cls: type) -> dict[str, str]:
    """The fields of a config table that name a catalog entry, and the kind of entry each names."""
    return {f.name: f.metadata["catalog_kind"] for f in dataclasses.fields(cls) if "catalog_kind" in f.metadata}


def _chooser(cls: type) -> tuple[str, str] | None:
    """The field of a table that picks the entry whose parameters the table also holds (dataset, encoder...)."""
    return next(((f, k) for f, k in _kinds(cls).items() if k != "modality"), None)


def parse_entry(param: Param, text: str) -> Any:
    """What the user typed as a value: TOML syntax as ``--set`` reads it, or the text itself for a string."""
    return text if param.type is str else parse_override(f"value={text}")[1]


class Draft:
    """An experiment being configured: ``raw`` is what its file holds; ``experiment`` the checked result or None."""

    def __init__(self, raw: dict[str, Any], path: Path | None = None, sweep: SweepPlan | None = None) -> None:
        self.raw = copy.deepcopy(raw)
        self.path = path
        self.sweep = sweep or SweepPlan()  # the fields swept and the seeds (sweep mode); not part of ``raw``
        self.initial_sweep = self.sweep.table()
        self.stash: dict[str, dict[str, Any]] = {}  # parameters of augmentations switched off, for switching back
        # the augmentations are the user's (a file's [augment] table, a switch or a value set): they no longer
        # follow the objective; until then they are the modality's and objective's defaults
        self.augment_chosen = isinstance(raw.get("augment"), dict)
        self.experiment: Experiment | None = None
        self.problem: Problem | None = None  # the loader's first objection
        self._settle()
        self.initial = copy.deepcopy(self.raw)
        self.check()

    @classmethod
    def defaults(cls, modality: str = "image", objective: str | None = None) -> Draft:
        """The defaults of a modality (and objective), as ``sslterm run -m M -o O`` trains them."""
        raw: dict[str, Any] = {"data": {"modality": modality}, "objective": {"name": objective} if objective else {}}
        draft = cls(raw)
        draft.raw = {"name": draft.auto_name(), **draft.raw}
        draft.initial = copy.deepcopy(draft.raw)
        draft.check()
        return draft

    def fresh(self) -> Draft:
        """The defaults of this draft's modality and objective (the objective only if it fits the modality)."""
        objective = self.get("objective.name")
        fits = objective in catalog.names("objective", self.modality)
        return Draft.defaults(self.modality, objective if fits else None)

    @classmethod
    def load(cls, path: Path) -> Draft:
        """A draft of an experiment file, its ``[sweep]`` table as the sweep mode; ConfigError when it cannot be
        read as TOML or its ``[sweep]`` table is refused (as ``sslterm sweep`` refuses it)."""
        raw = read_toml(path)
        table = raw.pop(SWEEP_TABLE, None)
        if table is not None:
            spec_from_table(table, str(path))
        return cls(raw, path, SweepPlan.from_table(table))

    # -- reading -----------------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        node: Any = self.raw
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def value(self, spec: FieldSpec) -> Any:
        """What a field holds: the draft's value, else the default the loader fills in."""
        if spec.kind == "augmentation":
            return self.enabled(spec.key.split(".", 1)[1])
        if spec.key in PLAN_PARAMS:
            return self.sweep.get(spec.key)
        return self.get(spec.key, spec.param.default)

    @property
    def modality(self) -> str:
        return str(self.get("data.modality", DataConfig.modality))

    @property
    def dirty(self) -> bool:
        return self.raw != self.initial or self.sweep.table() != self.initial_sweep

    def auto_name(self) -> str:
        return f"{self.modality}-{self.get('objective.name', ObjectiveConfig.name)}"

    def augmentations(self) -> list[str]:
        """The modality's augmentations (its default set first, in the order applied), then any other the
        draft names (so that it can be switched off)."""
        known = catalog.names("augmentation", self.modality)
        preferred = catalog.get("modality", self.modality).extra.get("default_augment", ()) if known else ()
        names = list(dict.fromkeys((*preferred, *known)))
        table = self.get("augment", {})
        return names + [n for n in (table if isinstance(table, dict) else {}) if n not in names]

    def enabled(self, name: str) -> bool:
        table = self.get("augment")
        body = table.get(name) if isinstance(table, dict) else None
        return isinstance(body, dict) and body.get("enabled", True) is True

    def sections(self) -> list[tuple[str, list[FieldSpec]]]:
        """The form, table by table in the order a run is set up: (table, its fields)."""
        top = [FieldSpec(p.name, p, "value") for p in section_params(Experiment)]
        out = [("", top)]
        for table, cls in TABLES.items():
            if table == "model":
                out.append(("augment", self._augment_fields()))
            out.append((table, self._table_fields(table, cls)))
        return [*out, ("sweep", [FieldSpec(key, param, "value") for key, param in PLAN_PARAMS.items()])]

    def _table_fields(self, table: str, cls: type) -> list[FieldSpec]:
        kinds = _kinds(cls)
        specs = []
        for p in section_params(cls):
            kind = kinds.get(p.name)
            if kind is not None:
                names = catalog.names(kind, None if kind == "modality" else self.modality)
                specs.append(FieldSpec(f"{table}.{p.name}", p, "choice", names))
            else:
                specs.append(self._spec(f"{table}.{p.name}", p))
        chooser = _chooser(cls)
        if chooser is not None:
            name = self.get(f"{table}.{chooser[0]}")
            if name in catalog.names(chooser[1]):
                specs += [self._spec(f"{table}.{p.name}", p) for p in catalog.get(chooser[1], name).params]
        return specs

    def _augment_fields(self) -> list[FieldSpec]:
        specs = []
        for name in self.augmentations():
            known = name in catalog.names("augmentation")
            entry_help = catalog.get("augmentation", name).help if known else "not an augmentation sslterm knows"
            specs.append(FieldSpec(f"augment.{name}", Param(name, bool, False, entry_help), "augmentation"))
            if known and self.enabled(name):
                specs += [self._spec(f"augment.{name}.{p.name}", p, indent=2)
                          for p in catalog.get("augmentation", name).params]
        return specs

    @staticmethod
    def _spec(key: str, p: Param, indent: int = 0) -> FieldSpec:
        if p.choices is not None:
            return FieldSpec(key, p, "choice", p.choices, indent)
        return FieldSpec(key, p, "flag" if p.type is bool else "value", (), indent)

    # -- editing -----------------------------------------------------------------------------------

    def set(self, key: str, value: Any) -> None:
        """Set one key; a new modality, dataset, objective or encoder also drops what no longer applies."""
        if key in PLAN_PARAMS:
            self.sweep.put(key, value)
            self.check()
            return
        table, _, name = key.partition(".")
        was_auto = self.get("name") == self.auto_name()
        cls = TABLES.get(table)
        chooser = _chooser(cls) if cls is not None else None
        if key == "data.modality":
            self._switch_modality(str(value))
        elif chooser is not None and name == chooser[0]:
            follows = key == "objective.name" and not self.augment_chosen
            self._switch_entry(table, name, chooser[1], value)
            if follows:  # augmentations left as they came follow the objective (masked: no token deletion)
                self.raw["augment"] = {n: {} for n in default_augment(self.modality, str(value))}
        else:
            _put(self.raw, key, value)
            self.augment_chosen |= table == "augment"
        if was_auto and key != "name":
            self.raw["name"] = self.auto_name()
        self._drop_stale_sweeps()
        self.check()

    def set_sweep(self, key: str, text: str) -> None:
        """Sweep ``key`` over the values ``text`` lists or spans (ValueError when it does neither); one value
        sets the field, no text ends its sweep."""
        spec = self.spec_of(key)
        if not text.strip():
            self.sweep.drop(key)
            self.check()
            return
        values = parse_values(spec.param, text)
        self.augment_chosen |= key.startswith("augment.")   # a swept augmentation value is a choice too
        if len(values) == 1:
            self.sweep.drop(key)
            self.set(key, values[0])
            return
        self.sweep.set(key, text.strip(), values)
        self.check()

    def spec_of(self, key: str) -> FieldSpec:
        """The form's row for ``key`` (KeyError when the form has none)."""
        return next(s for _, specs in self.sections() for s in specs if s.key == key)

    def _drop_stale_sweeps(self) -> None:
        """A swept key whose row went (another objective or encoder chosen) is swept no more."""
        keys = {s.key for _, specs in self.sections() for s in specs}
        for key in [k for k in self.sweep.values if k not in keys]:
            self.sweep.drop(key)

    def _table(self, name: str) -> dict[str, Any]:
        if not isinstance(self.raw.get(name), dict):
            self.raw[name] = {}
        table: dict[str, Any] = self.raw[name]
        return table

    def _switch_entry(self, table: str, field: str, kind: str, new: Any) -> None:
        """Choose another entry; parameters the new one does not have go (those of the same name stay)."""
        body = self._table(table)
        if new in catalog.names(kind):
            keep = {p.name for p in section_params(TABLES[table])} | {p.name for p in catalog.get(kind, new).params}
            for k in [k for k in body if k not in keep]:
                del body[k]
        body[field] = new

    def _switch_modality(self, modality: str) -> None:
        """Start the data, augmentations and encoder over for ``modality``; keep an objective that fits it."""
        self.raw["data"] = {"modality": modality}
        if self.get("objective.name") not in catalog.names("objective", modality):
            self.raw["objective"] = {}
        fixed = {p.name for p in section_params(ModelConfig)} - set(_kinds(ModelConfig))
        self.raw["model"] = {k: v for k, v in self._table("model").items() if k in fixed}
        self.raw.pop("augment", None)
        self.augment_chosen = False
        self.stash.clear()
        self._settle()

    def toggle(self, name: str) -> None:
        """Switch an augmentation on (in catalog order among those on, with its old parameters) or off."""
        table = self._table("augment")
        self.augment_chosen = True
        if self.enabled(name):
            body = table.pop(name)
            body.pop("enabled", None)
            self.stash[name] = body
        elif isinstance(table.get(name), dict):
            table[name].pop("enabled", None)
        else:
            order = {n: i for i, n in enumerate(self.augmentations())}
            items = list(table.items())
            rank = order.get(name, len(order))
            at = next((i for i, (n, _) in enumerate(items) if order.get(n, len(order)) > rank), len(items))
            items.insert(at, (name, self.stash.pop(name, {})))
            table.clear()
            table.update(items)
        self.check()

    def _settle(self) -> None:
        """Name the modality, dataset, objective, encoder and augmentations as the loader would choose them."""
        if not all(isinstance(self.raw.get(t, {}), dict) for t in ("data", "objective", "model")):
            return  # a value where a table belongs: check() names it
        data, objective, model = (self._table(t) for t in ("data", "objective", "model"))
        if "path" in data and "dataset" not in data:  # your own files, as the loader reads them: the form shows so
            data["dataset"] = f"{data.get('modality', DataConfig.modality)}_files"
        minimal: dict[str, dict[str, Any]] = {
            "data": {k: data[k] for k in ("modality", "dataset", "path", "format") if k in data},
            "objective": {k: objective[k] for k in ("name",) if k in objective},
            "model": {k: model[k] for k in ("encoder",) if k in model},
        }
        try:
            exp = build(minimal, source=SOURCE)
        except ConfigError:
            return  # a name the catalog does not know: check() shows it, the user picks another
        data.setdefault("modality", exp.data.modality)
        data.setdefault("dataset", exp.data.dataset)
        objective.setdefault("name", exp.objective.name)
        model.setdefault("encoder", exp.model.encoder)
        if "augment" not in self.raw:
            self.raw["augment"] = {name: {} for name in exp.augment}

    def check(self) -> None:
        """Build the experiment with the loader's rules; keep its first objection."""
        try:
            self.experiment = build(self.raw, source=SOURCE)
            self.problem = self._sweep_problem()
        except ConfigError as e:
            self.experiment = None
            self.problem = Problem.of(e)

    def _sweep_problem(self) -> Problem | None:
        """The first swept value the loader refuses, or bad seeds; None when every one would run."""
        found = plan_problem(self.raw, self.sweep)
        return Problem(*found) if found is not None else None

    def try_sweep(self, spec: FieldSpec, text: str) -> Problem | None:
        """What sweeping ``spec``'s field over ``text`` would meet: None, or the first value refused (or why the
        text is no list or range)."""
        reason = values_problem(self.raw, spec.key, spec.param, text, self.problem.text() if self.problem else None)
        return Problem((spec.key,), reason) if reason is not None else None

    def try_value(self, spec: FieldSpec, text: str) -> Problem | None:
        """What the loader would say if ``text`` were applied to ``spec``'s field (the draft is not changed):
        None when the experiment would be accepted."""
        try:
            value = parse_entry(spec.param, text)
            if spec.key in PLAN_PARAMS:
                bad = plan_value_problem(spec.key, value)
                return None if bad is None else Problem((spec.key,), bad.replace(repr(value), repr(text), 1))
            raw = copy.deepcopy(self.raw)
            _put(raw, spec.key, value)
            build(raw, source=SOURCE)
        except ConfigError as e:
            return Problem.of(e)
        return None

    # -- files -------------------------------------------------------------------------------------

    def saved_as(self, path: Path) -> None:
        """The draft now is what the file at ``path`` holds."""
        self.path = path
        self.initial = copy.deepcopy(self.raw)
        self.initial_sweep = self.sweep.table()


def _put(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted ``key`` of ``raw`` to ``value``, making (or replacing with) tables on the way."""
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = value
