"""The preview server: one JSON request per line on stdin, one JSON answer per line on stdout, until EOF.

Datasets are built once per (dataset, options) and kept, so a change of augmentation parameters
only re-runs the augmentations. The preview copy of a generated dataset is built at the smallest
size the catalog allows (its examples look the same at any size); the examples shown come from
its held-out split, as training's probe views do. A bad experiment is answered with its one-line
:class:`~sslterm.errors.ConfigError`, and the server keeps answering.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections import OrderedDict
from typing import Any, TextIO

import torch

from sslterm import autoscan, catalog, config
from sslterm.augment import Pipeline
from sslterm.data import Dataset, build_dataset
from sslterm.preview import payloads

MAX_SAMPLES = 8
KEPT_DATASETS = 3
PREVIEW_EXAMPLES = 100  # files read for a preview of your own data (a fixed subset)


class RequestError(ValueError):
    """A request that is not of the documented shape."""


def parse_request(line: str) -> dict[str, Any]:
    """A request line as a JSON object; RequestError says what is wrong."""
    try:
        req = json.loads(line)
    except json.JSONDecodeError as e:
        raise RequestError(f"request is not JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(req, dict):
        raise RequestError("request must be a JSON object")
    return req


def integer(req: dict[str, Any], key: str, default: int | None, low: int, high: int) -> int:
    """The integer ``req[key]`` (``default`` when absent) within [low, high]; RequestError otherwise."""
    v = req.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
        raise RequestError(f"request {key}: got {v!r}, expected an integer from {low} to {high}")
    return v


def preview_options(dataset: str, options: dict[str, Any]) -> dict[str, Any]:
    """The dataset options of the preview copy: the fewest examples the catalog allows, or a subset of files."""
    entry = catalog.get("dataset", dataset)
    out = dict(options)
    for name in ("num_samples", "num_eval"):
        p = entry.param(name)
        if p is not None and p.low is not None:
            out[name] = int(p.low)
    if "max_examples" in out and not 0 < out["max_examples"] <= PREVIEW_EXAMPLES:
        out["max_examples"] = PREVIEW_EXAMPLES
    return out


class PreviewServer:
    """Answers requests; keeps the last few datasets it built."""

    def __init__(self) -> None:
        self.datasets: OrderedDict[str, Dataset] = OrderedDict()

    def dataset(self, name: str, options: dict[str, Any]) -> Dataset:
        """The preview copy of dataset ``name`` with ``options``, built on first use."""
        opts = preview_options(name, options)
        key = json.dumps([name, opts], sort_keys=True)
        if key not in self.datasets:
            self.datasets[key] = build_dataset(name, opts)
            while len(self.datasets) > KEPT_DATASETS:
                self.datasets.popitem(last=False)
        self.datasets.move_to_end(key)
        return self.datasets[key]

    def answer_line(self, line: str) -> dict[str, Any]:
        """The answer to one request line; never raises for a bad request or experiment."""
        rid: int | None = None
        try:
            req = parse_request(line)
            rid = integer(req, "id", None, -(2**53), 2**53)
            experiment = req.get("experiment")
            if not isinstance(experiment, dict):
                raise RequestError("request experiment: expected an object with the tables of an experiment file")
            samples = integer(req, "samples", 3, 1, MAX_SAMPLES)
            return {"id": rid, **self.preview(experiment, samples, integer(req, "seed", 0, 0, 2**63 - 1))}
        except ValueError as e:  # ConfigError, RequestError, and data loaders' errors about a file
            return {"id": rid, "error": one_line(str(e))}
        except Exception as e:  # reported to the app, with the traceback on stderr, and the server goes on
            traceback.print_exc(file=sys.stderr)
            return {"id": rid, "error": one_line(f"{type(e).__name__}: {e}")}

    def preview(self, experiment: dict[str, Any], samples: int, seed: int) -> dict[str, Any]:
        """Samples of the held-out split and two views of each: modality, samples and notes."""
        exp = autoscan.settle(config.build(experiment, source="experiment"))   # the shapes the run will derive
        data = self.dataset(exp.data.dataset, exp.data.options)
        n = min(samples, data.size("eval"))
        pick = torch.randperm(data.size("eval"), generator=torch.Generator().manual_seed(seed))[:n]
        batch = data.batch("eval", pick)
        pipeline = Pipeline(exp.augment)
        gen = torch.Generator().manual_seed(seed)
        modality = exp.data.modality
        notes = [] if exp.augment else ["no augmentations enabled: both views equal the original"]
        if modality == "text":
            views, origins = payloads.traced_views(pipeline, batch, gen, 2)
            rows = payloads.text_payloads(batch["x"], [v["x"] for v in views], origins,
                                          payloads.token_names(data.info))
            longest = int((batch["x"] != payloads.PAD).sum(1).max())
            if longest > payloads.MAX_TOKENS:
                notes.append(f"the first {payloads.MAX_TOKENS} of up to {longest} tokens shown")
        else:
            views = [pipeline(batch, gen), pipeline(batch, gen)]
            rows = self.rows(modality, batch, views, data)
            notes += self.notes(modality, batch)
        labels = label_names(data, pick)
        return {"modality": modality, "notes": notes,
                "samples": [{"label": labels[i], "original": row[0], "views": row[1:]} for i, row in enumerate(rows)]}

    @staticmethod
    def rows(modality: str, batch: dict[str, torch.Tensor], views: list[dict[str, torch.Tensor]],
             data: Dataset) -> list[list[payloads.Payload]]:
        """Per example, [original, view 1, view 2] payloads."""
        if modality == "graph":
            return payloads.graph_payloads(batch, views)
        if modality == "audio":
            rate = int(data.info.get("sample_rate", 16000))
            return payloads.spectrogram_payloads(batch["x"], [v["x"] for v in views], rate)
        make = payloads.frame_payloads if modality == "video" else payloads.image_payloads
        return [list(r) for r in zip(*(make(b["x"]) for b in (batch, *views)), strict=True)]

    @staticmethod
    def notes(modality: str, batch: dict[str, torch.Tensor]) -> list[str]:
        """What was shrunk or left out to keep the payloads small."""
        x = batch["x"]
        if modality == "video" and x.shape[1] > payloads.MAX_FRAMES:
            return [f"{payloads.MAX_FRAMES} of {x.shape[1]} frames shown"]
        side = {"image": payloads.IMAGE_SIDE, "video": payloads.FRAME_SIDE}.get(modality)
        if side is not None and max(x.shape[-2:]) > side:
            return [f"shown at {side} px from {x.shape[-1]} px"]
        return []


def label_names(data: Dataset, pick: torch.Tensor) -> list[str | None]:
    """The class name (or number) of each picked held-out example; None without labels."""
    if data.y_eval is None:
        return [None] * len(pick)
    ys = data.y_eval[pick].tolist()
    return [data.classes[y] if 0 <= y < len(data.classes) else str(y) for y in ys]


def one_line(text: str) -> str:
    """The first non-empty line of ``text`` (an error shown in one line)."""
    return next((s.strip() for s in text.splitlines() if s.strip()), "unknown error")


def serve(requests: TextIO, answers: TextIO) -> None:
    """Answer every line of ``requests`` on ``answers``, flushing each answer, until EOF."""
    server = PreviewServer()
    for line in requests:
        if line.strip():
            answers.write(json.dumps(server.answer_line(line), separators=(",", ":")) + "\n")
            answers.flush()


def main() -> None:
    """Serve stdin → stdout; anything else that prints goes to stderr, so stdout holds only answers."""
    answers = sys.stdout
    sys.stdout = sys.stderr
    torch.set_num_threads(1)  # tensors this small gain nothing from threads, which contend with a run training here
    serve(sys.stdin, answers)
