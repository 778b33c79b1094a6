"""Experiment configuration: typed frozen dataclasses mirroring the TOML tables, and their loader.

An experiment file has one table per concern::

    name = "image-simclr"      # a label for runs of this experiment
    seed = 0

    [data]          modality, dataset and the dataset's own parameters (``path = ...`` alone
                    selects the modality's ``<modality>_files`` dataset: your own data)
    [augment.NAME]  one table per enabled augmentation, holding its parameters
    [model]         encoder, projector size, and the encoder's own parameters
    [objective]     the pretext objective's name and parameters
    [train]         steps, batch size, optimiser, device, logging intervals
    [eval]          what is measured while training (the similarity probe batch)

Everything is checked against :mod:`sslterm.catalog` before any training starts. A problem
raises :class:`ConfigError` whose message is one line naming the file, the key, what was
given and what is allowed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sslterm import catalog, config_auto, formats, rules, tomlio
from sslterm.autoconf import Facts
from sslterm.catalog import Param
from sslterm.checker import Checker as _Checker
from sslterm.checker import depth_error, too_deep
from sslterm.checker import show as _show
from sslterm.errors import ConfigError
from sslterm.overrides import apply_overrides, parse_override, read_toml

__all__ = ["ConfigError", "Experiment", "apply_overrides", "build", "from_overrides", "load", "parse_override",
           "read_toml"]


def opt(default: Any, help: str, **kw: Any) -> Any:
    """Declare a config field with its default, help and allowed range (one place only)."""
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class DataConfig:
    """The ``[data]`` table: what to train on."""

    modality: str = opt(catalog.default("modality"), "Kind of data.", catalog_kind="modality")
    dataset: str = opt(catalog.default("dataset", catalog.default("modality")),
                       "Built-in dataset, or MODALITY_files for your own data.", catalog_kind="dataset")
    on_device: str = opt("auto", "Keep the training split on the device (true) or stream it from host memory through "
                         "DataLoader workers (false); auto keeps it when it fits in half the free device memory.",
                         choices=("auto", "true", "false"))
    workers: int = opt(2, "DataLoader worker processes when the training split is streamed.", low=0, high=64)
    options: dict[str, Any] = field(default_factory=dict)
    """The dataset's own parameters (see ``sslterm catalog``); ``path`` for your own files."""


@dataclass(frozen=True)
class ModelConfig:
    """The ``[model]`` table: the encoder and its heads."""

    encoder: str = opt(catalog.default("encoder", catalog.default("modality")), "Encoder architecture.",
                       catalog_kind="encoder")
    projector_dim: int = opt(64, "Output size of the projection head.", low=2, high=65536)
    projector_hidden: int = opt(256, "Hidden size of the projection head.", low=2, high=65536)
    options: dict[str, Any] = field(default_factory=dict)
    """The encoder's own parameters (see ``sslterm catalog``)."""


@dataclass(frozen=True)
class ObjectiveConfig:
    """The ``[objective]`` table: the pretext task."""

    name: str = opt(catalog.default("objective"), "Pretext objective.", catalog_kind="objective")
    options: dict[str, Any] = field(default_factory=dict)
    """The objective's own parameters (see ``sslterm catalog``)."""


@dataclass(frozen=True)
class TrainConfig:
    """The ``[train]`` table: optimisation and bookkeeping."""

    steps: int = opt(500, "Optimiser steps to train for (unless train.epochs is set).", low=1, high=100_000_000)
    epochs: int = opt(0, "Passes over the training split instead of train.steps (0: train.steps decides): each epoch "
                      "visits every training example exactly once across all processes.", low=0, high=1_000_000)
    batch_size: int = opt(128, "Examples per step in each process (before the views are made); the global batch "
                          "is batch_size × processes.", low=2, high=1_000_000)
    lr: float = opt(2e-3, "Peak learning rate.", low=0.0, high=10.0, low_open=True)
    weight_decay: float = opt(1e-4, "AdamW weight decay.", low=0.0, high=10.0)
    warmup_steps: int = opt(20, "Linear warm-up steps before the cosine decay.", low=0)
    min_lr_ratio: float = opt(0.05, "Final learning rate as a fraction of the peak.", low=0.0, high=1.0)
    device: str = opt("auto", "Where to train: auto picks CUDA when available.", choices=("auto", "cpu", "cuda"))
    sync_batchnorm: bool = opt(False, "With several processes, batch norm over the global batch (SyncBatchNorm; "
                               "CUDA only) instead of each process's share.")
    precision: str = opt("fp32", "Arithmetic of the forward pass: bf16 runs it under bfloat16 autocast (CUDA, and "
                         "CPUs with bf16 support); weights, optimiser and evaluation stay fp32.",
                         choices=("fp32", "bf16"))
    channels_last: bool = opt(False, "Store convolution weights channels-last (faster CNNs on recent GPUs); "
                              "CUDA only: ignored on the CPU, and by encoders without 2-D convolutions.")
    compile: bool = opt(False, "torch.compile the objective's networks (slow first steps; checkpoints unchanged).")
    threads: int = opt(0, "CPU threads for torch (0: torch's default).", low=0, high=1024)
    log_every: int = opt(10, "Steps between metric records (the only host-device syncs).", low=1)
    snapshot_every: int = opt(50, "Steps between similarity-matrix snapshots.", low=1)
    checkpoint_every: int = opt(500, "Steps between checkpoints (and one at the end).", low=1)
    auto_resume: int = opt(0, "Times a worker that dies without a final status is resumed from its checkpoint.",
                           low=0, high=100)


@dataclass(frozen=True)
class EvalConfig:
    """The ``[eval]`` table: what is measured while training (labels are only used here)."""

    probe_batch: int = opt(32, "Fixed examples whose view-to-view similarity matrix is snapshotted.", low=2, high=256)
    every: int = opt(100, "Steps between evaluations (kNN, online probe, collapse diagnostics); 0 turns them off.",
                     low=0)
    knn_k: int = opt(20, "Neighbours that vote in kNN classification.", low=1, high=1000)
    online_probe: bool = opt(True, "Train a linear probe on detached features alongside pretraining.")
    max_examples: int = opt(1024, "Held-out examples evaluated.", low=2, high=1_000_000)
    bank_size: int = opt(4096, "Training features kept for kNN: those of the most recent training views.", low=1,
                         high=10_000_000)


@dataclass(frozen=True)
class Experiment:
    """A whole, validated experiment."""

    name: str = opt("experiment", "A label for runs of this experiment.")
    seed: int = opt(0, "Seed for weights, batches and augmentations.", low=0)
    data: DataConfig = field(default_factory=DataConfig)
    augment: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Enabled augmentations in the order they are applied, each with its parameters. With no
    ``[augment]`` table at all, the modality's default set (see ``sslterm catalog``) is used, less those an
    objective whose targets are its input would leave out (:func:`default_augment`)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    auto: dict[str, str] = field(default_factory=dict)
    """Settings derived from the data's shape (full key → reason, ``""`` until the data is read); a key the
    user sets is never here (:mod:`sslterm.config_auto`, docs/defaults.md)."""

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as nested plain data, the shape of the TOML file."""

        def flat(section: Any) -> dict[str, Any]:
            out = {f.name: getattr(section, f.name) for f in dataclasses.fields(section) if f.name != "options"}
            out = {k: v for k, v in out.items() if v is not None}
            out.update(getattr(section, "options", {}))
            return out

        return {
            "name": self.name,
            "seed": self.seed,
            "data": flat(self.data),
            "augment": {k: dict(v) for k, v in self.augment.items()},
            "model": flat(self.model),
            "objective": flat(self.objective),
            "train": flat(self.train),
            "eval": flat(self.eval),
            **({"auto": dict(self.auto)} if self.auto else {}),
        }

    def to_toml(self, header: str = "") -> str:
        """The resolved configuration as a TOML document that loads back to the same value."""
        return tomlio.dumps(self.to_dict(), header=header)


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "objective": ObjectiveConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
}
_TOP_LEVEL = ("name", "seed", *_SECTIONS, "augment", "auto")


def _field_param(f: dataclasses.Field[Any]) -> Param:
    md = dict(f.metadata)
    help_ = md.pop("help", "")
    md.pop("catalog_kind", None)
    base = {int: int, float: float, bool: bool, str: str, "int": int, "float": float, "bool": bool, "str": str}
    type_name = str(f.type).split("|")[0].strip()
    return Param(name=f.name, type=base[type_name], default=f.default, help=help_, **md)


def section_params(cls: type) -> tuple[Param, ...]:
    """The fixed fields of a config section as catalog parameters (for validation and docs)."""
    return tuple(_field_param(f) for f in dataclasses.fields(cls) if f.name != "options" and f.metadata)


def _build_section(chk: _Checker, name: str, cls: type, raw: dict[str, Any], extra: catalog.Entry | None) -> Any:
    fixed = {p.name: p for p in section_params(cls)}
    kwargs: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for k, v in raw.items():
        if k in fixed:
            kwargs[k] = chk.value(f"{name}.{k}", v, fixed[k])
        elif extra is not None:
            rest[k] = v
        else:
            raise chk.unknown(f"{name}.{k}", k, list(fixed), f"key in [{name}]")
    if extra is not None:
        kwargs["options"] = chk.params(name, rest, extra, tuple(fixed))
    return cls(**kwargs)


def _choose(
    chk: _Checker, key: str, raw: dict[str, Any], kind: str, default: str, modality: str | None
) -> catalog.Entry:
    """Look up the catalog entry a table names, refusing unknown or incompatible names."""
    given = raw.get(key.split(".")[-1], default)
    if not isinstance(given, str):
        raise chk.fail(key, f"got {_show(given)}, expected the name of a {kind}", given=given,
                       allowed=f"the name of a {kind}")
    valid = catalog.names(kind)
    if given not in valid:
        raise chk.unknown(key, given, valid, kind)
    entry = catalog.get(kind, given)
    if modality is not None and modality not in entry.modalities:
        fits = ", ".join(catalog.names(kind, modality)) or "none yet"
        raise chk.fail(key, f"{kind} {given!r} does not support modality {modality!r}; for {modality} choose one "
                       f"of: {fits}", given=given, allowed=fits, also=("data.modality",))
    return entry


def build(raw: dict[str, Any], source: str = "<config>", facts: Facts | None = None) -> Experiment:
    """Validate raw TOML data and build an :class:`Experiment`, or raise ConfigError; settings left to the
    data are derived where the dataset's options or ``facts`` (what its files say) decide them."""
    chk = _Checker(source)
    deep = too_deep(raw)
    if deep is not None:
        raise depth_error(source, deep)
    for k in raw:
        if k not in _TOP_LEVEL:
            raise chk.unknown(k, k, list(_TOP_LEVEL), "top-level key")
    top = {p.name: p for p in section_params(Experiment)}
    name = chk.value("name", raw.get("name", top["name"].default), top["name"])
    seed = chk.value("seed", raw.get("seed", 0), top["seed"])
    tables = {s: chk.table(s, raw.get(s, {})) for s in (*_SECTIONS, "augment")}

    data_raw = dict(tables["data"])
    modality_entry = _choose(chk, "data.modality", data_raw, "modality", catalog.default("modality"), None)
    modality = modality_entry.name
    if "path" in data_raw and "dataset" not in data_raw:
        data_raw["dataset"] = f"{modality}_files"
    dataset = _choose(chk, "data.dataset", data_raw, "dataset", catalog.default("dataset", modality), modality)
    data_raw.setdefault("modality", modality)
    data_raw.setdefault("dataset", dataset.name)
    data = _build_section(chk, "data", DataConfig, data_raw, dataset)
    _resolve_path(chk, data.options)
    _check_format(chk, modality, data.options)

    objective_entry = _choose(chk, "objective.name", tables["objective"], "objective",
                              catalog.default("objective", modality), modality)
    encoder = _choose(chk, "model.encoder", tables["model"], "encoder",
                      catalog.default("encoder", modality, objective_entry.extra.get("needs", ())), modality)
    model = _build_section(chk, "model", ModelConfig, {"encoder": encoder.name, **tables["model"]}, encoder)
    _check_needs(chk, objective_entry, encoder, modality)
    objective = _build_section(chk, "objective", ObjectiveConfig, {"name": objective_entry.name, **tables["objective"]},
                               objective_entry)

    augment: dict[str, dict[str, Any]] = {}
    valid_augs = catalog.names("augmentation", modality)
    aug_tables = tables["augment"] if "augment" in raw else {
        name: {} for name in default_augment(modality, objective.name)
    }
    for aug_name, aug_raw in aug_tables.items():
        key = f"augment.{aug_name}"
        if aug_name not in catalog.names("augmentation"):
            raise chk.unknown(key, aug_name, catalog.names("augmentation"), "augmentation")
        if aug_name not in valid_augs:
            allowed = ", ".join(valid_augs)
            raise chk.fail(key, f"augmentation {aug_name!r} does not apply to {modality}; allowed: {allowed}",
                           given=aug_name, allowed=allowed, also=("data.modality",))
        body = dict(chk.table(key, aug_raw))
        enabled = body.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise chk.fail(f"{key}.enabled", f"got {_show(enabled)}, expected true or false", given=enabled,
                           allowed="true or false")
        if enabled:
            augment[aug_name] = chk.params(key, body, catalog.get("augmentation", aug_name))

    data, model, objective, augment, auto = config_auto.settle(chk, raw, data, model, objective, augment, facts)
    train = _build_section(chk, "train", TrainConfig, tables["train"], None)
    eval_ = _build_section(chk, "eval", EvalConfig, tables["eval"], None)
    rules.check_data(chk, data.dataset, data.options, train.batch_size, eval_.probe_batch)
    rules.check_augment(chk, augment)
    sizes = rules.data_sizes(data.dataset, data.options)
    tokens = rules.check_model(chk, model.encoder, model.options, sizes).get("tokens")
    rules.check_objective(chk, objective.name, objective.options, sizes, tokens)
    return Experiment(name=name, seed=seed, data=data, augment=augment, model=model,
                      objective=objective, train=train, eval=eval_, auto=auto)


_NEEDS = {"tokens": "per-token features", "causal": "a causal (left-to-right) mode"}


def _check_needs(chk: _Checker, objective: catalog.Entry, encoder: catalog.Entry, modality: str) -> None:
    """Refuse an objective whose encoder lacks a capability it needs (tokens, causal)."""
    for need in objective.extra.get("needs", ()):
        if not encoder.extra.get(need):
            fits = ", ".join(e.name for e in catalog.entries("encoder", modality) if e.extra.get(need)) or "none yet"
            raise chk.fail("model.encoder", f"objective {objective.name!r} needs an encoder with "
                           f"{_NEEDS.get(need, need)}; {encoder.name!r} has none; for {modality} choose one of: {fits}",
                           given=encoder.name, allowed=fits, also=("objective.name",))


def _resolve_path(chk: _Checker, options: dict[str, Any]) -> None:
    """Make ``data.path`` absolute (runs may start elsewhere) and refuse one that does not exist."""
    if "path" not in options:
        return
    if not options["path"]:
        raise chk.fail("data.path", "is required for your own data: a file or folder to read", given="",
                       allowed="a file or folder to read")
    try:
        p = Path(options["path"]).expanduser()
        names = formats.expand(str(p))            # a pattern (a-{000..009}.tar, data/*.parquet): several
        missing = [n for n in names if not Path(n).exists()]
    except (OSError, RuntimeError) as e:       # a name too long for the filesystem, an unknown ~user
        raise chk.fail("data.path", f"{_show(options['path'])} cannot be used as a path ({e.__class__.__name__})",
                       given=options["path"], allowed="an existing file or folder") from None
    if not names:
        raise chk.fail("data.path", f"{_show(options['path'])} matches no file", given=options["path"],
                       allowed="an existing file or folder, or a pattern matching files")
    if missing:
        what = "does not exist" if len(names) == 1 else f"names {len(missing)} missing file(s), e.g. {missing[0]}"
        raise chk.fail("data.path", f"{_show(options['path'])} {what}", given=options["path"],
                       allowed="an existing file or folder")
    options["path"] = str(p.resolve()) if len(names) == 1 else str(p.parent.resolve() / p.name)


def _check_format(chk: _Checker, modality: str, options: dict[str, Any]) -> None:
    """Refuse a ``data.path`` that is none of the modality's formats, or a ``data.format`` it does not read."""
    if "path" not in options:
        return
    given = str(options.get("format", formats.AUTO))
    try:
        fmt = formats.detect(options["path"], modality, given)
    except formats.FormatError as e:
        key, also = ("data.path", ()) if given == formats.AUTO else ("data.format", ("data.path",))
        raise chk.fail(key, e.reason, given=options["path"] if given == formats.AUTO else given,
                       allowed=e.allowed, also=also) from None
    if modality == "text" and options.get("tokenizer") == "bpe" and fmt is formats.Format.NPZ:
        raise chk.fail("data.tokenizer", f"'bpe' applies to text (.txt or .jsonl files, folders of them, labelled "
                       f"or not, Parquet, Hugging Face datasets); {_show(options['path'])} is an .npz, whose ids "
                       "are read as they are: remove data.tokenizer or set it to 'bytes'",
                       given="bpe", allowed="bytes", also=("data.path",))


def load(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
    """Load, override and validate an experiment file."""
    return build(overridden(read_toml(path), overrides), source=str(path))


def from_overrides(overrides: list[str] | tuple[str, ...] = (), source: str = "<defaults>") -> Experiment:
    """An experiment from the defaults plus overrides, with no file; unless named, it is named after its
    task (``audio-masked``)."""
    raw = overridden({}, overrides)
    exp = build(raw, source=source)
    return exp if "name" in raw else dataclasses.replace(exp, name=f"{exp.data.modality}-{exp.objective.name}")


def overridden(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``raw`` with each override applied on top of what it stands for: with no ``[augment]`` table the
    modality's default augmentations are in force, so ``--set augment.X.…`` changes one of them (or adds
    one) and keeps the others, as it does when a file lists them. A key overridden leaves ``[auto]``."""
    raw = config_auto.after_override(raw, [".".join(parse_override(o)[0]) for o in overrides])
    merged = apply_overrides(raw, overrides)
    if "augment" in raw or "augment" not in merged or not isinstance(merged.get("data", {}), dict):
        return merged
    modality = merged.get("data", {}).get("modality", DataConfig.modality)
    if modality not in catalog.names("modality"):
        return merged                              # build names the unknown modality
    objective = merged.get("objective", {}).get("name") if isinstance(merged.get("objective"), dict) else None
    defaults = default_augment(modality, objective or catalog.default("objective", modality))
    return apply_overrides({**raw, "augment": {name: {} for name in defaults}}, overrides)


def default_augment(modality: str, objective: str) -> tuple[str, ...]:
    """The augmentations in force with no ``[augment]`` table: the modality's default set (the catalog), less
    those ``objective`` would leave out because its targets are its input (see :func:`rules.skipped_for_targets`)."""
    names = tuple(catalog.get("modality", modality).extra.get("default_augment", ()))
    if objective not in catalog.names("objective"):
        return names                               # build names the unknown objective
    skipped = rules.skipped_for_targets(objective, {n: {} for n in names})
    return tuple(n for n in names if n not in skipped)
