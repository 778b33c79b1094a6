"""The one catalog of modalities, datasets, objectives, augmentations and encoders.

Every choice a user can make is declared here once, with its parameters (type, default,
allowed range, help) and the modalities it fits. Config validation, ``sslterm catalog``,
the app's launcher and the docs all read this module; the torch implementations are
looked up by the same names (a test checks that both sides list the same names).
This module imports nothing heavier than the standard library.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

KINDS = ("modality", "dataset", "objective", "augmentation", "encoder")


@dataclass(frozen=True)
class Param:
    """One named parameter: its type, default, allowed range or choices, and help."""

    name: str
    type: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] | None = None
    optional: bool = False

    def allowed(self) -> str:
        """Describe the allowed values in words, for error messages and docs."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[
            self.type
        ]
        if self.low is not None and self.high is not None:
            op = "<" if self.low_open else "≤"
            return f"{kind} with {self.low:g} {op} value ≤ {self.high:g}"
        if self.low is not None:
            op = ">" if self.low_open else "≥"
            return f"{kind} {op} {self.low:g}"
        return kind

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description of this parameter."""
        return {
            "name": self.name,
            "type": self.type.__name__,
            "default": self.default,
            "help": self.help,
            "allowed": self.allowed(),
            **({"low": self.low} if self.low is not None else {}),
            **({"high": self.high} if self.high is not None else {}),
            **({"choices": list(self.choices)} if self.choices is not None else {}),
        }


@dataclass(frozen=True)
class Entry:
    """A catalog entry: one modality, dataset, objective, augmentation or encoder."""

    kind: str
    name: str
    help: str
    modalities: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Param | None:
        """The parameter called ``name``, or None."""
        return next((p for p in self.params if p.name == name), None)

    def defaults(self) -> dict[str, Any]:
        """Every parameter's default value."""
        return {p.name: p.default for p in self.params}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description of this entry."""
        return {
            "name": self.name,
            "help": self.help,
            "modalities": list(self.modalities),
            "params": [p.to_dict() for p in self.params],
            **self.extra,
        }


def P(name: str, type_: type, default: Any, help: str, **kw: Any) -> Param:
    """Shorthand constructor for :class:`Param`, used by the declarations below."""
    return Param(name=name, type=type_, default=default, help=help, **kw)


_ENTRIES: tuple[Entry, ...] = (
    # ---- modalities -------------------------------------------------------------------
    Entry("modality", "image", "Images as float tensors [N, C, H, W] in [0, 1]."),
    # ---- datasets ---------------------------------------------------------------------
    Entry(
        "dataset",
        "shapes",
        "Procedurally generated RGB images of 10 shape classes (disc, square, triangle, "
        "ring, cross, bars, ...) with random colour, size, position and background "
        "texture; labelled, generated on the device from a seed, nothing downloaded.",
        modalities=("image",),
        params=(
            P("num_samples", int, 8192, "Images in the training split.", low=64, high=2_000_000),
            P("num_eval", int, 1024, "Labelled held-out images.", low=16, high=200_000),
            P("image_size", int, 32, "Height and width in pixels.", low=16, high=128),
            P("seed", int, 1234, "Seed of the generator (fixed data across runs).", low=0),
        ),
    ),
    # ---- encoders ---------------------------------------------------------------------
    Entry(
        "encoder",
        "cnn",
        "A small ResNet-style convolutional encoder with global average pooling.",
        modalities=("image",),
        params=(
            P("width", int, 16, "Channels of the first stage (doubled per stage).", low=4, high=512),
            P("stages", int, 3, "Number of downsampling stages.", low=1, high=5),
            P("blocks", int, 1, "Residual blocks per stage.", low=1, high=8),
            P("stem_stride", int, 2, "Stride of the first convolution (2 halves the cost).", low=1, high=4),
        ),
    ),
    # ---- objectives -------------------------------------------------------------------
    Entry(
        "objective",
        "infonce",
        "Contrastive InfoNCE / NT-Xent (SimCLR): two views of each example, positives "
        "on the diagonal, all other examples in the batch as negatives.",
        modalities=("image",),
        params=(
            P("temperature", float, 0.2, "Softmax temperature τ.", low=0.0, high=10.0, low_open=True),
        ),
        extra={"views": 2},
    ),
    # ---- augmentations ----------------------------------------------------------------
    Entry(
        "augmentation",
        "random_resized_crop",
        "Crop a random area and aspect ratio of each image and resize it back.",
        modalities=("image",),
        params=(
            P("scale_min", float, 0.3, "Smallest crop area as a fraction of the image.", low=0.01, high=1.0),
            P("scale_max", float, 1.0, "Largest crop area as a fraction of the image.", low=0.01, high=1.0),
            P("ratio_min", float, 0.75, "Smallest aspect ratio (w/h).", low=0.1, high=10.0),
            P("ratio_max", float, 4 / 3, "Largest aspect ratio (w/h).", low=0.1, high=10.0),
        ),
    ),
    Entry(
        "augmentation",
        "horizontal_flip",
        "Mirror each image left to right with probability p.",
        modalities=("image",),
        params=(P("p", float, 0.5, "Probability of flipping an image.", low=0.0, high=1.0),),
    ),
    Entry(
        "augmentation",
        "color_jitter",
        "Random brightness, contrast, saturation and hue shifts, applied with probability p.",
        modalities=("image",),
        params=(
            P("p", float, 0.8, "Probability of jittering an image.", low=0.0, high=1.0),
            P("brightness", float, 0.4, "Max relative brightness change.", low=0.0, high=1.0),
            P("contrast", float, 0.4, "Max relative contrast change.", low=0.0, high=1.0),
            P("saturation", float, 0.4, "Max relative saturation change.", low=0.0, high=1.0),
            P("hue", float, 0.1, "Max hue rotation as a fraction of a turn.", low=0.0, high=0.5),
        ),
    ),
    Entry(
        "augmentation",
        "grayscale",
        "Convert each image to grayscale with probability p.",
        modalities=("image",),
        params=(P("p", float, 0.2, "Probability of converting an image.", low=0.0, high=1.0),),
    ),
)


def entries(kind: str, modality: str | None = None) -> tuple[Entry, ...]:
    """All entries of one kind, optionally only those that fit ``modality``."""
    if kind not in KINDS:
        raise KeyError(f"unknown catalog kind {kind!r}; expected one of {', '.join(KINDS)}")
    found = tuple(e for e in _ENTRIES if e.kind == kind)
    if modality is not None and kind != "modality":
        found = tuple(e for e in found if modality in e.modalities)
    return found


def names(kind: str, modality: str | None = None) -> tuple[str, ...]:
    """The names of all entries of one kind, optionally filtered by modality."""
    return tuple(e.name for e in entries(kind, modality))


def suggest(name: str, options: tuple[str, ...] | list[str]) -> str:
    """' (did you mean X?)' for a close match of ``name`` among ``options``, else ''."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def get(kind: str, name: str) -> Entry:
    """The entry called ``name``; KeyError with the valid names and a suggestion if absent."""
    for e in entries(kind):
        if e.name == name:
            return e
    valid = names(kind)
    raise KeyError(f"unknown {kind} {name!r}{suggest(name, valid)}; allowed: {', '.join(valid)}")


def as_dict() -> dict[str, Any]:
    """The whole catalog as plain data (for ``sslterm catalog --json`` and the docs)."""
    out: dict[str, Any] = {f"{k}s": [e.to_dict() for e in entries(k)] for k in KINDS}
    out["compatibility"] = {m: list(names("objective", m)) for m in names("modality")}
    return out
