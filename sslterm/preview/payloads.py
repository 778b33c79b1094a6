"""Examples and their augmented views as small plain-JSON payloads, one kind per modality.

- image: ``{"kind": "image", "rgb": H × W × [r, g, b]}``, uint8, at most 32 × 32 (area-downsampled).
- audio: ``{"kind": "spectrogram", "values": bands × columns}``, log power on mel bands (row 0 the
  lowest) in [0, 1]: 0 is 60 dB below the loudest cell of the original, so views share its scale.
- text: ``{"kind": "text", "tokens": [str], "changed": [bool], "dropped": int}``; a token is changed
  when it is masked or replaced, ``dropped`` counts the tokens the view no longer has. With a BPE
  (``data.tokenizer = "bpe"``) a token is the text it spells and ``"bounds": true`` asks for the
  boundaries between tokens to be shown.
- video: ``{"kind": "frames", "frames": [H × W × [r, g, b]], "index": [int]}``, at most 6 frames of
  at most 16 × 16, ``index`` saying which frames of the clip they are.
- graph: ``{"kind": "graph", "nodes", "edges", "dropped_nodes", "dropped_edges", "masked_features",
  "features", "kept_nodes", "edge_list", "kept_edges"}``: real nodes and undirected edges of the view,
  what the view lost against the original, feature values of kept nodes it zeroed, features per node;
  then, for drawing, the original's first MAX_DRAWN_NODES nodes (whether the view kept each), its edges
  among them as index pairs into that list, and whether the view kept each edge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sslterm.augment import Pipeline
from sslterm.data import Batch
from sslterm.data.text import MASK, OFFSET, PAD
from sslterm.models.audio import mel_filterbank

Payload = dict[str, Any]

IMAGE_SIDE = 32
FRAME_SIDE = 16
MAX_FRAMES = 6
BANDS, COLUMNS = 16, 48
DB_RANGE = 60.0
MAX_TOKENS = 256
MASK_TOKEN = "<mask>"
MAX_DRAWN_NODES = 48
MAX_DRAWN_EDGES = 160


def rgb(x: torch.Tensor, side: int) -> list[Any]:
    """One image [C, H, W] in [0, 1] (C 1 or 3) as H × W × [r, g, b] uint8 lists, longer side ≤ ``side``."""
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    h, w = x.shape[-2:]
    if max(h, w) > side:
        size = (max(1, round(h * side / max(h, w))), max(1, round(w * side / max(h, w))))
        x = F.interpolate(x[None], size=size, mode="area")[0]
    out: list[Any] = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).tolist()
    return out


def image_payloads(x: torch.Tensor) -> list[Payload]:
    """Images [B, C, H, W] → one image payload each."""
    return [{"kind": "image", "rgb": rgb(img, IMAGE_SIDE)} for img in x]


def frame_index(t: int) -> list[int]:
    """Which of ``t`` frames a strip shows: all of them, or MAX_FRAMES evenly spaced from first to last."""
    if t <= MAX_FRAMES:
        return list(range(t))
    return [round(k * (t - 1) / (MAX_FRAMES - 1)) for k in range(MAX_FRAMES)]


def frame_payloads(x: torch.Tensor) -> list[Payload]:
    """Clips [B, T, C, H, W] → one strip of frames each."""
    index = frame_index(x.shape[1])
    return [{"kind": "frames", "frames": [rgb(clip[t], FRAME_SIDE) for t in index], "index": index} for clip in x]


def mel_power(x: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Waveforms [B, L] → mel-band power [B, BANDS, frames], frames pooled to at most COLUMNS."""
    length = x.shape[1]
    n_fft = 1 << min(8, max(1, length.bit_length() - 1))                  # ≤ 256 and ≤ length
    window = torch.hann_window(n_fft, dtype=x.dtype)
    spec = torch.stft(x, n_fft, max(1, n_fft // 4), window=window, return_complex=True)  # [B, F, frames]
    power = spec.abs().pow(2).transpose(1, 2) @ mel_filterbank(n_fft, BANDS, sample_rate)  # [B, frames, BANDS]
    power = power.transpose(1, 2)                                                        # [B, BANDS, frames]
    if power.shape[2] > COLUMNS:
        power = F.adaptive_avg_pool1d(power, COLUMNS)
    return power


def spectrogram_payloads(original: torch.Tensor, views: list[torch.Tensor], sample_rate: int) -> list[list[Payload]]:
    """Per example, [original, *views] as spectrograms on the original's decibel scale."""
    n = original.shape[0]
    db = 10 * torch.log10(mel_power(torch.cat([original, *views]), sample_rate) + 1e-10)  # [(1+V)·B, BANDS, cols]
    db = db.view(1 + len(views), n, *db.shape[1:])
    top = db[0].amax(dim=(1, 2), keepdim=True)                                            # [B, 1, 1]
    level = ((db - top + DB_RANGE) / DB_RANGE).clamp(0, 1)
    return [[{"kind": "spectrogram", "values": [[round(v, 3) for v in row] for row in level[k, i].tolist()]}
             for k in range(1 + len(views))] for i in range(n)]


def graph_payload(original: Batch, view: Batch, i: int) -> Payload:
    """Graph ``i`` of a view summarised against the same graph of the original batch."""
    def nodes(b: Batch) -> torch.Tensor:
        m = b.get("mask")
        return torch.ones(b["x"].shape[1], dtype=torch.bool) if m is None else m[i].bool()

    kept, before = nodes(view), nodes(original)
    adj_v, adj_o = view["adj"][i] != 0, original["adj"][i] != 0
    zeroed = (original["x"][i] != 0) & (view["x"][i] == 0) & kept[:, None]
    real = before.nonzero().flatten()[:MAX_DRAWN_NODES]                       # the original's nodes, drawn
    at = {int(n): k for k, n in enumerate(real.tolist())}
    pairs = [(a, b) for a, b in adj_o.triu(1).nonzero().tolist() if a in at and b in at][:MAX_DRAWN_EDGES]
    return {"kind": "graph", "nodes": int(kept.sum()), "edges": int(adj_v.triu(1).sum()),
            "dropped_nodes": int((before & ~kept).sum()), "dropped_edges": int((adj_o & ~adj_v).triu(1).sum()),
            "masked_features": int(zeroed.sum()), "features": int(original["x"].shape[2]),
            "kept_nodes": [bool(kept[n]) for n in real.tolist()],
            "edge_list": [[at[a], at[b]] for a, b in pairs],
            "kept_edges": [bool(adj_v[a, b]) and bool(kept[a]) and bool(kept[b]) for a, b in pairs]}


def graph_payloads(original: Batch, views: list[Batch]) -> list[list[Payload]]:
    """Per graph, [original, *views] summaries (the original against itself: nothing dropped)."""
    return [[graph_payload(original, b, i) for b in (original, *views)] for i in range(original["x"].shape[0])]


def traced_views(pipeline: Pipeline, batch: Batch, gen: torch.Generator,
                 count: int) -> tuple[list[Batch], list[torch.Tensor]]:
    """``count`` text views made as training makes them, and where each token of each view came from.

    The text augmentations decide where to act only from which positions hold PAD, MASK or a real
    token, and a substitution copies only ids above MASK. So replaying a view's random draws (the
    same generator state) on a float tracer, whose real tokens are their flat index scaled into
    (0, 1), repeats every deletion, crop and mask but no substitution: the traced value at each
    output position names the input token that moved there. Origins [B, L] hold that flat index,
    or -1 where the view is padding or masked.
    """
    x = batch["x"]
    n = x.numel()
    flat_index = torch.arange(n, dtype=torch.float64).view_as(x)
    tracer = torch.where(x == PAD, 0.0, torch.where(x == MASK, 1.0, (flat_index + 1) / (n + 1)))
    views, origins = [], []
    for _ in range(count):
        state = gen.get_state()
        views.append(pipeline(batch, gen))
        after = gen.get_state()
        gen.set_state(state)
        traced = pipeline({**batch, "x": tracer}, gen)["x"]
        gen.set_state(after)
        inside = (traced > 0) & (traced < 1)
        origins.append(torch.where(inside, (traced * (n + 1)).round().long() - 1, -1))
    return views, origins


def token_text(t: int, names: list[str] | None = None) -> str:
    """A token id as text: a byte as one printable character (other bytes as ``·``), or its name in ``names``
    (a BPE's tokens, :func:`token_names`); MASK as ``<mask>``."""
    if t == MASK:
        return MASK_TOKEN
    if names is not None:
        return names[t] if 0 <= t < len(names) else "?"
    b = t - OFFSET
    return chr(b) if 32 <= b < 127 else "·"


def token_names(info: dict[str, Any]) -> list[str] | None:
    """What each token id of a BPE-tokenised dataset spells, for display (None for bytes)."""
    if info.get("tokenizer") != "bpe":
        return None
    from sslterm.data.bpe import display, token_bytes

    return ["", MASK_TOKEN] + [display(b) for b in token_bytes(Path(info["tokenizer_file"]))]


def text_payload(ids: list[int], changed: list[bool], dropped: int, names: list[str] | None = None) -> Payload:
    """One sequence (PAD already removed), cut to MAX_TOKENS."""
    out = {"kind": "text", "tokens": [token_text(t, names) for t in ids[:MAX_TOKENS]],
           "changed": changed[:MAX_TOKENS], "dropped": dropped}
    return {**out, "bounds": True} if names is not None else out


def text_payloads(original: torch.Tensor, views: list[torch.Tensor], origins: list[torch.Tensor],
                  names: list[str] | None = None) -> list[list[Payload]]:
    """Per sequence, [original, *views]; a view's token is changed when it is masked or is not its origin's id."""
    flat = original.flatten().tolist()
    out = []
    for i, row in enumerate(original.tolist()):
        ids = [t for t in row if t != PAD]
        samples = [text_payload(ids, [False] * len(ids), 0, names)]
        for view, origin in zip(views, origins, strict=True):
            kept = [(t, o) for t, o in zip(view[i].tolist(), origin[i].tolist(), strict=True) if t != PAD]
            changed = [t == MASK or o < 0 or flat[o] != t for t, o in kept]
            samples.append(text_payload([t for t, _ in kept], changed, len(ids) - len(kept), names))
        out.append(samples)
    return out
