"""Settings derived from the data's shape when left unset: one rule per setting, each a value and a reason.

A rule reads :class:`Facts` (sizes of the data: signal length and sample rate, image side, frames,
sequence length, graph sizes) and the values resolved so far, and returns ``(value, reason)``, the
reason one line such as ``"auto: 2, from 160-sample signals"``; or None when the facts it needs are
not known yet (a file not yet read). Rules are keyed by catalog entry and parameter, so a rule
applies only when its encoder, dataset, augmentation or objective is chosen. At the catalog's
default sizes every rule gives the catalog's default. Pure: no torch, no numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from sslterm import catalog

PENDING = ""
"""The reason recorded for a key still to be derived (the data is not read yet)."""


@dataclass(frozen=True)
class Facts:
    """What is known of the data's shape; None where it is not known (yet)."""

    length: int | None = None
    """Samples per clip as the encoder sees them (audio)."""
    sample_rate: int | None = None
    image_size: int | None = None
    frames: int | None = None
    seq_len: int | None = None
    nodes: int | None = None
    """A typical (median) number of real nodes per graph."""
    # ---- the files' own sizes, read before the data is built (for the dataset's options) --------------
    file_length: int | None = None
    """Samples per signal in the user's files (a high percentile when they differ)."""
    file_rate: int | None = None
    """The files' own sample rate, when they say it."""
    file_side: int | None = None
    """Side of the user's images or frames."""
    doc_len: int | None = None
    """Bytes per example or document of the user's text (a high percentile)."""
    bytes_per_token: float | None = None
    """Bytes per token of the user's text as the run tokenises it: measured under a BPE, 1 for bytes and ids."""
    max_graph_nodes: int | None = None
    """Nodes of the largest of the user's graphs."""

    def merged(self, other: Facts) -> Facts:
        """These facts with every fact ``other`` knows put over them."""
        return replace(self, **{f.name: getattr(other, f.name) for f in fields(other)
                                if getattr(other, f.name) is not None})


Derived = tuple[Any, str]
Rule = Callable[[Facts, dict[str, Any]], "Derived | None"]
"""(facts, values resolved so far by full key) → (value, reason) or None."""


def _say(value: Any, why: str) -> Derived:
    return value, f"auto: {value:g}, {why}" if isinstance(value, float) else f"auto: {value}, {why}"


def _pow2_at_most(n: float) -> int:
    return 1 << max(0, math.floor(math.log2(max(n, 1))))


# ---- audio -------------------------------------------------------------------------------------------

TOKENS_MIN, TOKENS_MAX = 4, 16
"""wave_cnn keeps between 4 and 16 positions per clip (16 at the default clips of 4096 and 16,000 samples)."""


def _wave_tokens(length: int) -> int:
    return max(TOKENS_MIN, min(TOKENS_MAX, length // 8))


def wave_stride(f: Facts, v: dict[str, Any]) -> Derived | None:
    """Stride 4 for clips of 4096 samples or more (16 positions after 4 layers), else 2 (finer steps)."""
    if f.length is None:
        return None
    return _say(4 if f.length >= 4 ** 4 * TOKENS_MAX else 2, f"from {f.length}-sample clips")


def wave_layers(f: Facts, v: dict[str, Any]) -> Derived | None:
    """The most layers (1..8) that leave at least 4..16 positions (an eighth of the clip, within those bounds)."""
    if f.length is None:
        return None
    stride, want = int(v["model.stride"]), _wave_tokens(f.length)
    layers = 1
    while layers < 8 and f.length // stride ** (layers + 1) >= want:
        layers += 1
    return _say(layers, f"{f.length // stride ** layers} positions of {stride ** layers} samples "
                        f"from {f.length}-sample clips")


def mel_hop(f: Facts, v: dict[str, Any]) -> Derived | None:
    """Hop 128 when that gives 16 frames or more, else the largest power of two (≥ 8) that does."""
    if f.length is None:
        return None
    hop = max(8, min(128, _pow2_at_most(f.length / TOKENS_MAX)))
    return _say(hop, f"{f.length // hop} frames from {f.length}-sample clips")


def mel_n_fft(f: Facts, v: dict[str, Any]) -> Derived | None:
    """Twice the hop (windows overlap by half)."""
    if f.length is None:
        return None
    return _say(2 * int(v["model.hop"]), "twice model.hop")


def mel_n_mels(f: Facts, v: dict[str, Any]) -> Derived | None:
    """32 bands, or as many as the window has frequency bins."""
    if f.length is None:
        return None
    bins = int(v["model.n_fft"]) // 2 + 1
    return _say(max(4, min(32, bins)), f"{bins} frequency bins of model.n_fft")


def freq_mask_n_fft(f: Facts, v: dict[str, Any]) -> Derived | None:
    """256 samples, or the largest power of two (≥ 16) within a quarter of the clip."""
    if f.length is None:
        return None
    return _say(max(16, min(256, _pow2_at_most(f.length / 4))), f"from {f.length}-sample clips")


CROP_MIN_SAMPLES = 32


def audio_crop_fraction(f: Facts, v: dict[str, Any]) -> Derived | None:
    """0.6 of the clip, but never fewer than 32 samples (a window of a short signal must still show it)."""
    if f.length is None:
        return None
    return _say(round(max(0.6, min(1.0, CROP_MIN_SAMPLES / f.length)), 3), f"from {f.length}-sample clips")


def audio_sample_rate(f: Facts, v: dict[str, Any]) -> Derived | None:
    """The files' own rate (nothing is resampled); 16 kHz for an .npz that gives none (then nothing is either)."""
    if f.file_length is None:
        return None
    if f.file_rate is None:
        return _say(16000, "the .npz gives no sample_rate: samples are kept as they are")
    return _say(int(f.file_rate), "the files' own rate")


CLIP_SECONDS_MAX = 10.0


def audio_clip_seconds(f: Facts, v: dict[str, Any]) -> Derived | None:
    """The signals' own length (no padding), at most 10 s."""
    if f.file_length is None:
        return None
    rate = int(v["data.sample_rate"])
    samples = round(f.file_length * rate / (f.file_rate or rate))
    seconds = min(CLIP_SECONDS_MAX, samples / rate)
    cut = "" if seconds == samples / rate else f", cut from {samples / rate:g} s"
    return seconds, f"auto: {seconds:g} s = {round(seconds * rate)} samples, the signals' own length{cut}"


# ---- images and video -------------------------------------------------------------------------------------

def _cnn_stride(side: int, cells: int) -> int:
    """The largest power of two ≤ side / cells that divides ``side`` (at least 1)."""
    s = _pow2_at_most(side / cells)
    while s > 1 and side % s:
        s //= 2
    return s


def cnn_stem_stride(f: Facts, v: dict[str, Any]) -> Derived | None:
    """2 for images of 32 px or more (4 from 256 px), 1 below (a small image keeps its pixels)."""
    if f.image_size is None:
        return None
    total = _cnn_stride(f.image_size, 4)
    stem = 1 if f.image_size < 32 else (4 if total >= 64 else 2)
    return _say(min(stem, total), f"from {f.image_size}-px images")


def _stages(f: Facts, v: dict[str, Any], cells: int, what: str) -> Derived | None:
    """Downsampling stages (1..5) after the stem until the map is about ``cells`` × ``cells``."""
    if f.image_size is None:
        return None
    total, stem = _cnn_stride(f.image_size, cells), int(v["model.stem_stride"])
    stages = max(1, min(5, round(math.log2(max(1, total // stem))) + 1))
    side = f.image_size // (stem * 2 ** (stages - 1))
    return _say(stages, f"a {side}×{side} map from {f.image_size}-px {what}")


def cnn_stages(f: Facts, v: dict[str, Any]) -> Derived | None:
    """Stages until the feature map is about 4×4 (3 at 32 px), 1..5."""
    return _stages(f, v, 4, "images")


def vit_patch(f: Facts, v: dict[str, Any]) -> Derived | None:
    """The largest divisor of the image side that leaves at least 8 patches per side (4 at 32 px)."""
    if f.image_size is None:
        return None
    side = f.image_size
    patch = max(p for p in range(1, min(64, side) + 1) if side % p == 0 and side // p >= min(8, side))
    return _say(patch, f"{side // patch}×{side // patch} patches of {side}-px images")


def frame_stem_stride(f: Facts, v: dict[str, Any]) -> Derived | None:
    """2 for frames of 16 px or more, else 1."""
    if f.image_size is None:
        return None
    return _say(2 if _cnn_stride(f.image_size, 8) >= 2 else 1, f"from {f.image_size}-px frames")


def frame_stages(f: Facts, v: dict[str, Any]) -> Derived | None:
    """Stages until the frame CNN's map is about 8×8 (2 at 32 px), 1..5."""
    return _stages(f, v, 8, "frames")


def frame_grid(f: Facts, v: dict[str, Any]) -> Derived | None:
    """4 cells per side, or as many as the frame CNN's map has."""
    if f.image_size is None:
        return None
    cells = f.image_size // (int(v["model.stem_stride"]) * 2 ** (int(v["model.stages"]) - 1))
    return _say(max(1, min(4, cells)), f"a {cells}×{cells} map from {f.image_size}-px frames")


def frame_target(f: Facts, v: dict[str, Any]) -> Derived | None:
    """8 cells per side, or the frame's side when smaller."""
    if f.image_size is None:
        return None
    return _say(min(8, f.image_size), f"from {f.image_size}-px frames")


def files_image_size(f: Facts, v: dict[str, Any]) -> Derived | None:
    """The images' own side, 8..128 px (larger ones are resized down to 128: a CPU-sized default)."""
    if f.file_side is None:
        return None
    side = max(8, min(128, f.file_side))
    return _say(side, "the images' own side" + ("" if side == f.file_side else f" ({f.file_side} px) within 8..128"))


def temporal_segments(f: Facts, v: dict[str, Any]) -> Derived | None:
    """3 segments, or as many as the time axis has steps (at least 2)."""
    steps = f.frames or f.seq_len or f.length
    if steps is None:
        return None
    return _say(max(2, min(3, steps)), f"from {steps} steps per example")


# ---- text --------------------------------------------------------------------------------------------

SEQ_LEN_MIN, SEQ_LEN_MAX = 16, 512


def text_seq_len(f: Facts, v: dict[str, Any]) -> Derived | None:
    """The 95th percentile of the examples' (or documents') lengths in tokens, rounded up to 8, within 16..512.

    Tokens are bytes, or under a BPE (``data.tokenizer = "bpe"``) the bytes divided by the text's measured
    bytes per token (about 4 for English): a byte length taken as tokens would make windows 4 times too long.
    """
    per = f.bytes_per_token
    if f.doc_len is None or (per is None and v.get("data.tokenizer") == "bpe"):
        return None                                        # a BPE's bytes per token not measured: the default
    tokens = f.doc_len if per is None or per == 1 else math.ceil(f.doc_len / per)
    n = max(SEQ_LEN_MIN, min(SEQ_LEN_MAX, -(-tokens // 8) * 8))
    why = f"from the text's {f.doc_len}-byte examples (95th percentile)"
    if tokens != f.doc_len:
        why += f", {tokens} BPE tokens at {per:.2f} bytes per token"
    return _say(n, why + ("" if n >= tokens else f", at most {SEQ_LEN_MAX}"))


def span_masking_spans(f: Facts, v: dict[str, Any]) -> Derived | None:
    """One span per 128 tokens (at least one), so long sequences are not hidden in one block."""
    if f.seq_len is None:
        return None
    return _say(max(1, min(64, f.seq_len // 128)), f"from {f.seq_len}-token sequences")


# ---- graphs ------------------------------------------------------------------------------------------

def gnn_layers(f: Facts, v: dict[str, Any]) -> Derived | None:
    """About log2(nodes) − 1 hops (3 for graphs of 16 nodes), 1..6."""
    if f.nodes is None:
        return None
    layers = max(1, min(6, round(math.log2(max(2, f.nodes))) - 1))
    return _say(layers, f"from graphs of about {f.nodes} nodes")


def graph_max_nodes(f: Facts, v: dict[str, Any]) -> Derived | None:
    """The largest graph's node count (nothing cut), within 4..512."""
    if f.max_graph_nodes is None:
        return None
    n = max(4, min(512, f.max_graph_nodes))
    return _say(n, f"the largest graph has {f.max_graph_nodes} nodes")


RULES: dict[tuple[str, str], tuple[tuple[str, Rule], ...]] = {
    ("dataset", "audio_files"): (("sample_rate", audio_sample_rate), ("clip_seconds", audio_clip_seconds)),
    ("dataset", "image_files"): (("image_size", files_image_size),),
    ("dataset", "video_files"): (("image_size", files_image_size),),
    ("dataset", "text_files"): (("seq_len", text_seq_len),),
    ("dataset", "graph_files"): (("max_nodes", graph_max_nodes),),
    ("encoder", "wave_cnn"): (("stride", wave_stride), ("layers", wave_layers)),
    ("encoder", "mel_transformer"): (("hop", mel_hop), ("n_fft", mel_n_fft), ("n_mels", mel_n_mels)),
    ("encoder", "cnn"): (("stem_stride", cnn_stem_stride), ("stages", cnn_stages)),
    ("encoder", "vit"): (("patch_size", vit_patch),),
    ("encoder", "frame_transformer"): (("stem_stride", frame_stem_stride), ("stages", frame_stages),
                                       ("grid", frame_grid), ("target_size", frame_target)),
    ("encoder", "gnn"): (("layers", gnn_layers),),
    ("augmentation", "frequency_masking"): (("n_fft", freq_mask_n_fft),),
    ("augmentation", "random_crop"): (("min_fraction", audio_crop_fraction),),
    ("augmentation", "span_masking"): (("spans", span_masking_spans),),
    ("objective", "temporal_order"): (("segments", temporal_segments),),
}
"""Every auto setting: per catalog entry, its parameters in the order they are derived."""


Keyed = tuple[str, Rule, catalog.Param]
"""A rule with the full key it sets and the catalog parameter it must respect."""


def rules_for(dataset: str, encoder: str, objective: str, augment: tuple[str, ...]) -> tuple[Keyed, ...]:
    """(full key, rule, parameter) for every auto setting of this choice of dataset, encoder, objective and
    augmentations, data first (the model's rules read the sizes the data options give)."""
    chosen = [("dataset", dataset, "data"), ("encoder", encoder, "model"), ("objective", objective, "objective")]
    chosen += [("augmentation", aug, f"augment.{aug}") for aug in augment]
    out: list[Keyed] = []
    for kind, name, prefix in chosen:
        for p, rule in RULES.get((kind, name), ()):
            param = catalog.get(kind, name).param(p)
            if param is None:
                raise RuntimeError(f"autoconf rule for {kind} {name!r} names no parameter {p!r}")
            out.append((f"{prefix}.{p}", rule, param))
    return tuple(out)


def derive(rules: tuple[Keyed, ...], pending: set[str] | dict[str, str], values: dict[str, Any],
           facts: Facts) -> dict[str, Derived]:
    """The value and reason of every ``pending`` key whose rule's facts are known; ``values`` (full key →
    value) are the settings resolved so far, updated in place as keys are derived. A value outside the
    parameter's range is not taken (the key keeps its value)."""
    out: dict[str, Derived] = {}
    for key, rule, param in rules:
        if key not in pending:
            continue
        got = rule(facts, values)
        if got is None:
            continue
        value, reason = got
        value = param.type(value)
        if not param.accepts(value):
            continue
        values[key] = value
        out[key] = (value, reason)
    return out


def facts_from_sizes(sizes: dict[str, Any]) -> Facts:
    """The facts a dataset's own options give (``rules.data_sizes``: Size records or ints)."""
    def get(name: str) -> int | None:
        s = sizes.get(name)
        return None if s is None else int(getattr(s, "value", s))

    return Facts(length=get("length"), image_size=get("image_size"), frames=get("frames"), seq_len=get("seq_len"))


def describe(auto: dict[str, str]) -> list[str]:
    """``key  reason`` lines for ``sslterm show`` (pending keys say so)."""
    width = max(map(len, auto), default=0)
    return [f"{k:<{width}}  {r or 'auto: derived once the data is read'}" for k, r in auto.items()]



__all__ = ["PENDING", "RULES", "Facts", "derive", "describe", "facts_from_sizes", "rules_for"]
