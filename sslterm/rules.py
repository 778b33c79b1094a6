"""Rules between keys: what the worker needs of two or more values together, checked before any training.

Each rule names every key involved (``ConfigError.keys``), the first being the one the message is about.
The sizes a dataset will have (image side, clip length, frames, sequence length) are read from its
catalog options, so a rule holds for the data as it will be built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sslterm.checker import Checker

DATA_BYTES_MAX = 32 * 2**30
"""Largest generated dataset (training and held-out splits, as float32) accepted: 32 GiB."""


@dataclass(frozen=True)
class Size:
    """A size the data will have, and the key(s) that set it."""

    value: int
    keys: tuple[str, ...]

    @property
    def named(self) -> str:
        """How a message names where the size comes from."""
        return " and ".join(self.keys)


def data_sizes(dataset: str, options: dict[str, Any]) -> dict[str, Size]:
    """The sizes known before the data is read: image_size, length, frames, seq_len (where they apply)."""
    out: dict[str, Size] = {}
    for name in ("image_size", "frames", "seq_len", "max_nodes", "node_features"):
        if isinstance(options.get(name), int):
            out[name] = Size(options[name], (f"data.{name}",))
    if isinstance(options.get("length"), int):
        out["length"] = Size(options["length"], ("data.length",))
    elif "clip_seconds" in options and "sample_rate" in options:        # audio_files: resampled, cut or padded
        out["length"] = Size(max(1, round(float(options["clip_seconds"]) * int(options["sample_rate"]))),
                             ("data.clip_seconds", "data.sample_rate"))
    if dataset.endswith("_files"):
        out.pop("frames", None)                  # a file's frame count is known only once it is read
    return out


def _example_floats(sizes: dict[str, Size]) -> int | None:
    """Floats per generated example, or None when the dataset's size is not known up front."""
    if "max_nodes" in sizes:
        v = sizes["max_nodes"].value
        return v * (v + sizes["node_features"].value + 1) if "node_features" in sizes else None
    per = 1
    for name, factor in (("image_size", 2), ("frames", 1), ("length", 1), ("seq_len", 1)):
        if name in sizes:
            per *= sizes[name].value ** factor
    return per * (3 if "image_size" in sizes else 1)


def check_data(chk: Checker, dataset: str, options: dict[str, Any], batch_size: int, probe_batch: int) -> None:
    """The dataset's own ranges, its size in memory, and the batches drawn from it."""
    for lo_key, hi_key in range_pairs(options):
        if options[lo_key] > options[hi_key]:
            raise chk.fail(f"data.{lo_key}", f"got {options[lo_key]:g}, must not exceed data.{hi_key} = "
                           f"{options[hi_key]:g}", given=options[lo_key], allowed=f"at most {options[hi_key]:g}",
                           also=(f"data.{hi_key}",))
    n_eval, n_train = options.get("num_eval"), options.get("num_samples")
    if n_eval is not None and probe_batch > n_eval:
        raise chk.fail("eval.probe_batch", f"got {probe_batch}, must not exceed data.num_eval = {n_eval}",
                       given=probe_batch, allowed=f"at most {n_eval}", also=("data.num_eval",))
    if n_train is not None and batch_size > n_train:
        raise chk.fail("train.batch_size", f"got {batch_size}, must not exceed data.num_samples = {n_train}",
                       given=batch_size, allowed=f"at most {n_train}", also=("data.num_samples",))
    sizes = data_sizes(dataset, options)
    per = _example_floats(sizes)
    if n_train is None or n_eval is None or per is None or dataset.endswith("_files"):
        return
    total = (n_train + n_eval) * per * 4
    if total > DATA_BYTES_MAX:
        sized = [k for s in sizes.values() for k in s.keys]
        gib = DATA_BYTES_MAX / 2**30
        raise chk.fail("data.num_samples", f"the generated data would take {total / 2**30:.0f} GiB (more than "
                       f"{gib:g} GiB): lower data.num_samples, data.num_eval or {', '.join(sized)}",
                       given=n_train, allowed=f"data of at most {gib:g} GiB", also=("data.num_eval", *sized))


def range_pairs(params: dict[str, Any]) -> list[tuple[str, str]]:
    """Keys that bound a range together: ``X_min``/``X_max`` and ``min_X``/``max_X``."""
    pairs = []
    for key in params:
        for lo, hi in (("_min", "_max"), ("min_", "max_")):
            if (key.endswith(lo) if lo.startswith("_") else key.startswith(lo)):
                other = key[: -len(lo)] + hi if lo.startswith("_") else hi + key[len(lo):]
                if other in params:
                    pairs.append((key, other))
    return pairs


def check_augment(chk: Checker, augment: dict[str, dict[str, Any]]) -> None:
    """Ranges within one augmentation's parameters (``scale_min`` ≤ ``scale_max``, ...)."""
    for name, params in augment.items():
        prefix = f"augment.{name}"
        for lo_key, hi_key in range_pairs(params):
            if params[lo_key] > params[hi_key]:
                raise chk.fail(f"{prefix}.{lo_key}", f"got {params[lo_key]:g}, must not exceed {prefix}.{hi_key} = "
                               f"{params[hi_key]:g}", given=params[lo_key], allowed=f"at most {params[hi_key]:g}",
                               also=(f"{prefix}.{hi_key}",))


def check_model(chk: Checker, encoder: str, model: dict[str, Any], sizes: dict[str, Size]) -> dict[str, Size]:
    """The encoder against itself and the data; returns its token count per example where it is known."""
    if "heads" in model and "dim" in model and model["dim"] % model["heads"]:
        raise chk.fail("model.heads", f"got {model['heads']}, must divide model.dim = {model['dim']}",
                       given=model["heads"], allowed=f"a divisor of {model['dim']}", also=("model.dim",))
    check = _ENCODER_RULES.get(encoder)
    return check(chk, model, sizes) if check is not None else {}


def _image(sizes: dict[str, Size]) -> Size | None:
    return sizes.get("image_size")


def _cnn(chk: Checker, m: dict[str, Any], sizes: dict[str, Size]) -> dict[str, Size]:
    side = _image(sizes)
    if side is None:
        return {}
    stride = m["stem_stride"] * 2 ** (m["stages"] - 1)
    if side.value % stride:
        raise chk.fail(side.keys[0], f"got {side.value}, must be a multiple of the encoder's total stride {stride} "
                       "(model.stem_stride × 2^(model.stages − 1))", given=side.value,
                       allowed=f"a multiple of {stride}", also=("model.stem_stride", "model.stages"))
    return {}


def _vit(chk: Checker, m: dict[str, Any], sizes: dict[str, Size]) -> dict[str, Size]:
    side = _image(sizes)
    if side is None:
        return {}
    if side.value % m["patch_size"]:
        raise chk.fail("model.patch_size", f"got {m['patch_size']}, must divide {side.named} = {side.value}",
                       given=m["patch_size"], allowed=f"a divisor of {side.value}", also=side.keys)
    return {"tokens": Size((side.value // m["patch_size"]) ** 2, ("model.patch_size", *side.keys))}


def _frame_transformer(chk: Checker, m: dict[str, Any], sizes: dict[str, Size]) -> dict[str, Size]:
    side = _image(sizes)
    if side is not None:
        reach = m["stem_stride"] * 2 ** (m["stages"] - 1)
        cnn_keys = ("model.stem_stride", "model.stages")
        if side.value < reach:
            raise chk.fail(side.keys[0], f"got {side.value}, smaller than the frame CNN's total stride {reach} "
                           "(model.stem_stride × 2^(model.stages − 1))", given=side.value,
                           allowed=f"at least {reach}", also=cnn_keys)
        cells = side.value // reach
        if m["grid"] > cells:
            raise chk.fail("model.grid", f"got {m['grid']}, exceeds the frame CNN's {cells}×{cells} feature map "
                           f"({side.named} = {side.value} over stride {reach} from model.stem_stride and "
                           "model.stages)", given=m["grid"], allowed=f"at most {cells}", also=(*side.keys, *cnn_keys))
        if m["target_size"] > side.value:
            raise chk.fail("model.target_size", f"got {m['target_size']}, exceeds {side.named} = {side.value}",
                           given=m["target_size"], allowed=f"at most {side.value}", also=side.keys)
    return {"tokens": sizes["frames"]} if "frames" in sizes else {}


def _mel_transformer(chk: Checker, m: dict[str, Any], sizes: dict[str, Size]) -> dict[str, Size]:
    if m["n_fft"] % m["hop"]:
        raise chk.fail("model.n_fft", f"got {m['n_fft']}, must be a multiple of model.hop = {m['hop']}",
                       given=m["n_fft"], allowed=f"a multiple of {m['hop']}", also=("model.hop",))
    bins = m["n_fft"] // 2 + 1
    if m["n_mels"] > bins:
        raise chk.fail("model.n_mels", f"got {m['n_mels']}, exceeds the {bins} frequency bins of model.n_fft = "
                       f"{m['n_fft']}", given=m["n_mels"], allowed=f"at most {bins}", also=("model.n_fft",))
    length = sizes.get("length")
    if length is None:
        return {}
    if length.value < m["hop"]:
        raise chk.fail("model.hop", f"got {m['hop']}, longer than the clips ({length.named}: {length.value} "
                       "samples)", given=m["hop"], allowed=f"at most {length.value}", also=length.keys)
    return {"tokens": Size(length.value // m["hop"], ("model.hop", *length.keys))}


def _wave_cnn(chk: Checker, m: dict[str, Any], sizes: dict[str, Size]) -> dict[str, Size]:
    length = sizes.get("length")
    chunk = m["stride"] ** m["layers"]
    if length is not None and length.value < chunk:
        raise chk.fail("model.layers", f"got {m['layers']}: one token spans model.stride ** model.layers = {chunk} "
                       f"samples, more than the clips ({length.named}: {length.value} samples)", given=m["layers"],
                       allowed=f"stride ** layers ≤ {length.value}", also=("model.stride", *length.keys))
    return {}


def _text_transformer(chk: Checker, m: dict[str, Any], sizes: dict[str, Size]) -> dict[str, Size]:
    return {"tokens": sizes["seq_len"]} if "seq_len" in sizes else {}


_ENCODER_RULES = {"cnn": _cnn, "vit": _vit, "frame_transformer": _frame_transformer,
                  "mel_transformer": _mel_transformer, "wave_cnn": _wave_cnn, "transformer": _text_transformer}


def check_objective(chk: Checker, objective: str, options: dict[str, Any], sizes: dict[str, Size],
                    tokens: Size | None) -> None:
    """The objective against the encoder's tokens and the data's time axis."""
    if objective == "next_token" and tokens is not None and options["shift"] >= tokens.value:
        raise chk.fail("objective.shift", f"got {options['shift']}, must be less than the {tokens.value} tokens per "
                       f"example (from {tokens.named})", given=options["shift"],
                       allowed=f"at most {tokens.value - 1}", also=tokens.keys)
    if objective == "temporal_order":
        time = sizes.get("frames") or sizes.get("seq_len") or sizes.get("length")
        if time is not None and options["segments"] > time.value:
            raise chk.fail("objective.segments", f"got {options['segments']}, more than the {time.value} steps of "
                           f"the time axis ({time.named})", given=options["segments"],
                           allowed=f"at most {time.value}", also=time.keys)
        if options["per_segment"] and options["cut"] == "words":
            raise chk.fail("objective.per_segment", "encodes equal segments on their own; runs of whole words "
                           "(objective.cut = 'words') are read whole", given=True,
                           allowed="false with cut = 'words', or cut = 'equal'", also=("objective.cut",))


_OOM_WORDS = ("out of memory", "can't allocate memory", "not enough memory", "cannot allocate memory")


def is_out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is an allocation failure: CUDA's OutOfMemoryError, the CPU allocator's RuntimeError
    ("DefaultCPUAllocator: can't allocate memory") or Python's MemoryError."""
    text = str(e).lower()
    return isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError" or any(w in text for w in _OOM_WORDS)


def describe_out_of_memory(e: BaseException, dataset: str, data_options: dict[str, Any], batch_size: int) -> str | None:
    """One line naming the size to lower when ``e`` is out of memory (None otherwise): the data's sizes when
    the failed allocation is a sizeable part of the generated training split, else ``train.batch_size``."""
    if not is_out_of_memory(e):
        return None
    lines = str(e).strip().splitlines()
    first = lines[0] if lines else type(e).__name__
    if "DefaultCPUAllocator" in first:                     # drop torch's C++ location and assertion
        first = first[first.index("DefaultCPUAllocator"):].split(" Error code")[0]
    tried = _tried_bytes(first)
    per = _example_floats(data_sizes(dataset, data_options))
    n_train = data_options.get("num_samples")
    data_bytes = per * int(n_train) * 4 if per is not None and isinstance(n_train, int) else None
    if tried is not None and data_bytes is not None and tried >= data_bytes // 2:
        sized = [k for s in data_sizes(dataset, data_options).values() for k in s.keys]
        return (f"out of memory building the data ({_cut(first)}): lower data.num_samples (now {n_train})"
                + (f" or {', '.join(sized)}" if sized else ""))
    return (f"out of memory with train.batch_size = {batch_size} ({_cut(first)}); "
            f"try --set train.batch_size={max(2, batch_size // 2)}")


def _tried_bytes(text: str) -> int | None:
    """The size of the failed allocation when the message gives it ("you tried to allocate N bytes",
    CUDA's "Tried to allocate 2.00 GiB")."""
    import re

    m = re.search(r"tried to allocate ([\d.]+) ?(bytes|[KMGT]iB)", text, re.IGNORECASE)
    if m is None:
        return None
    scale = {"bytes": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def _cut(text: str) -> str:
    return text if len(text) <= 160 else text[:159] + "…"


def targets_are_input(objective: str) -> bool:
    """Whether ``objective``'s targets are its input (next-token, masked, inpainting; the catalog says)."""
    from sslterm import catalog

    return objective in catalog.names("objective") and bool(
        catalog.get("objective", objective).extra.get("targets_are_input"))


def skipped_for_targets(objective: str, augment: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    """The augmentations an objective whose targets are its input leaves out (token deletion, speed
    perturbation: they move the content, so no clean target would line up with the input)."""
    from sslterm import catalog

    if not targets_are_input(objective):
        return ()
    return tuple(n for n in augment if catalog.get("augmentation", n).extra.get("targets") == "skip")


def skipped_augmentations(objective: str, augment: dict[str, dict[str, Any]]) -> str | None:
    """A note naming the augmentations :func:`skipped_for_targets` leaves out, or None."""
    skipped = [f"augment.{n}" for n in skipped_for_targets(objective, augment)]
    if not skipped:
        return None
    it = "it moves" if len(skipped) == 1 else "they move"
    return (f"{', '.join(skipped)} not applied: {objective}'s targets are its own input and {it} the content "
            "out of line with them; remove it from [augment] to silence this")
