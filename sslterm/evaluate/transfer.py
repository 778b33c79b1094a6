"""Post-training evaluation of a run: frozen-feature probes, fine-tuning, and a raw-input baseline.

``evaluate_run`` rebuilds the run's data and encoder from its resolved config, loads the last
checkpoint and measures, on the held-out split only: a linear probe and kNN on frozen encoder
features, the same linear probe on the raw inputs (what pretraining bought), fine-tuning of the
whole encoder with a linear head on 1%, 10% and 100% of the training labels (or the fractions
asked for, none at all to skip it) and, when asked, the linear probe on the untrained encoder's
features (what the architecture alone gives) and the supervised baseline.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from sslterm import config
from sslterm.data import Batch, Dataset, build_dataset
from sslterm.evaluate.supervised import supervised_baseline, train_end_to_end
from sslterm.models import Encoder, build_encoder
from sslterm.objectives import Context, Objective, build_objective
from sslterm.objectives.features import extract
from sslterm.store import Run
from sslterm.train.checkpoint import load_checkpoint
from sslterm.utils.device import pick_device
from sslterm.utils.probes import knn_accuracy, linear_probe_record

FRACTIONS = (0.01, 0.1, 1.0)
MAX_TRAIN = 20000
"""Training examples the probes and kNN read at most."""


def restore(run: Run, device: torch.device) -> tuple[config.Experiment, Dataset, Objective, int]:
    """The run's experiment, data (on ``device``) and objective with the last checkpoint's weights."""
    exp = config.load(run.path / "config.toml")
    ckpt_path = run.checkpoint_path
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"{run.id}: no checkpoint yet ({ckpt_path}); wait for the first one")
    ckpt = load_checkpoint(ckpt_path, device)
    data = build_dataset(exp.data.dataset, exp.data.options).to(device)
    encoder = build_encoder(exp.model.encoder, data.info, exp.model.options)
    ctx = Context(encoder, data.info, exp.model.projector_hidden, exp.model.projector_dim)
    objective = build_objective(exp.objective.name, ctx, exp.objective.options).to(device)
    objective.load_state_dict(ckpt["model"])
    return exp, data, objective, int(ckpt["step"])


class RunNotWritable(RuntimeError):
    """The run directory refuses the evaluation's record; said before anything is computed."""


def check_writable(run: Run) -> None:
    """Create and remove a file in the run directory, so a run that cannot take ``eval.json`` fails first."""
    probe = run.path / f".eval-probe-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
        os.unlink(probe)
    except OSError as e:
        raise RunNotWritable(f"cannot save the evaluation of {run.id}: cannot write in {run.path}: "
                             f"{e.strerror or e}; nothing was computed") from None


def raw_features(batch: Batch, vocab_size: int = 0) -> torch.Tensor:
    """The raw input as a flat vector: pixels or samples, a token histogram for ids, x and adj for graphs."""
    x = batch["x"]
    if not x.is_floating_point():                                   # token ids → bag of tokens
        counts = torch.zeros(x.shape[0], vocab_size, device=x.device)
        counts.scatter_add_(1, x, torch.ones_like(x, dtype=torch.float))
        return counts[:, 2:] / counts[:, 2:].sum(dim=1, keepdim=True).clamp(min=1)   # drop PAD and MASK
    parts = [x.flatten(1)] + [batch[k].float().flatten(1) for k in ("adj",) if k in batch]
    return torch.cat(parts, dim=1)


def untrained_encoder(exp: config.Experiment, data: Dataset, device: torch.device) -> Encoder:
    """The experiment's encoder with the initial weights its seed gives, before any training."""
    torch.manual_seed(exp.seed)
    return build_encoder(exp.model.encoder, data.info, exp.model.options).to(device)


def probe_on(features: Any, exp: config.Experiment, data: Dataset, n_train: int) -> dict[str, float]:
    """The linear probe on ``features(split, n)`` of the first ``n_train`` training examples:
    ``{"accuracy": held-out accuracy, "l2": the L2 strength it chose}``."""
    if data.y_train is None or data.y_eval is None:
        raise ValueError("a linear probe needs a labelled dataset")
    return probe_record(features("train", n_train), data.y_train[:n_train], features("eval", data.size("eval")),
                        data.y_eval, int(data.info["num_classes"]), exp.seed)


def probe_record(train: torch.Tensor, train_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor,
                 num_classes: int, seed: int) -> dict[str, float]:
    """:func:`~sslterm.utils.probes.linear_probe_record` as plain numbers, the form ``eval.json`` stores."""
    record = linear_probe_record(train, train_y, test, test_y, num_classes, seed)
    return {"accuracy": float(record["accuracy"]), "l2": float(record["l2"])}


def raw_probe(exp: config.Experiment, data: Dataset, n_train: int, device: torch.device) -> dict[str, float]:
    """The linear probe on the raw inputs (what pretraining must beat)."""
    vocab = int(data.info.get("vocab_size", 0))
    return probe_on(lambda split, n: torch.cat([raw_features(data.batch(split, c), vocab)
                                                for c in torch.arange(n, device=device).split(512)]),
                    exp, data, n_train)


def untrained_probe(exp: config.Experiment, data: Dataset, n_train: int, device: torch.device) -> dict[str, float]:
    """The linear probe on the untrained encoder's features (what the architecture alone gives)."""
    untrained = Objective(Context(untrained_encoder(exp, data, device)))
    return probe_on(lambda split, n: extract(untrained, data, split, n, device), exp, data, n_train)


def finetune(encoder: Encoder, exp: config.Experiment, data: Dataset, fractions: Sequence[float],
             epochs: int = 10) -> dict[str, dict[str, Any]]:
    """Held-out accuracy of a copy of ``encoder`` fine-tuned with a linear head on each share of the labels.

    The same labelled examples (a seeded permutation), head initialisation and schedule for any
    encoder, so a pretrained and an untrained one are compared on equal terms: ``{"10%": {"accuracy", "labels"}, ...}``.
    """
    num_classes = int(data.info.get("num_classes", 0))
    device = next(encoder.parameters()).device
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(exp.seed)).to(device)
    batch_size = min(exp.train.batch_size, 256)
    out: dict[str, dict[str, Any]] = {}
    for frac in fractions:
        n = max(num_classes, round(frac * len(data)))
        steps = max(50, epochs * -(-n // batch_size))           # a floor, so 1% of labels still trains
        schedule = dataclasses.replace(exp.train, steps=steps, lr=1e-3, batch_size=batch_size, warmup_steps=0)
        torch.manual_seed(exp.seed)                             # the linear head's initial weights
        acc = train_end_to_end(encoder, data, order[:n], num_classes, schedule, seed=exp.seed)
        out[f"{frac:.0%}"] = {"accuracy": acc.item(), "labels": n}
    return out


def evaluate_run(run: Run, device_name: str = "auto", finetune_epochs: int = 10, max_train: int = MAX_TRAIN,
                 fractions: Sequence[float] = FRACTIONS, supervised: bool = False, random_init: bool = False,
                 log: Any = print) -> dict[str, Any]:
    """Measure how the run's representation transfers; returns the record stored as ``eval.json``.

    ``fractions``: shares of the training labels to fine-tune on (empty: no fine-tuning);
    ``supervised``: also train the encoder from scratch on all labels (the supervised baseline);
    ``random_init``: also probe the features of the untrained encoder (what the architecture alone gives).
    """
    check_writable(run)
    device = pick_device(device_name)
    started = time.time()
    exp, data, objective, step = restore(run, device)
    torch.manual_seed(exp.seed)
    num_classes = int(data.info.get("num_classes", 0))
    result: dict[str, Any] = {"step": step, "device": str(device), "num_classes": num_classes,
                              "train_examples": len(data), "eval_examples": data.size("eval")}
    if data.y_train is None or data.y_eval is None or num_classes < 2:
        result["note"] = "the dataset has no labels: probes, kNN and fine-tuning need labels"
        return result
    n_train = min(len(data), max_train)
    log(f"features of {n_train} training and {data.size('eval')} held-out examples at step {step} on {device}")
    train_f = extract(objective, data, "train", n_train, device)
    eval_f = extract(objective, data, "eval", data.size("eval"), device)
    y_tr, y_ev = data.y_train[:n_train], data.y_eval
    result["linear_probe"] = probe_record(train_f, y_tr, eval_f, y_ev, num_classes, exp.seed)
    result["knn"] = {"accuracy": knn_accuracy(train_f, y_tr, eval_f, y_ev, num_classes, k=exp.eval.knn_k).item(),
                     "k": exp.eval.knn_k}
    result["raw_linear_probe"] = raw_probe(exp, data, n_train, device)
    log(f"linear probe {result['linear_probe']['accuracy']:.3f}, kNN {result['knn']['accuracy']:.3f}, "
        f"raw-input probe {result['raw_linear_probe']['accuracy']:.3f}")
    if random_init:
        result["random_init_linear_probe"] = untrained_probe(exp, data, n_train, device)
        log(f"linear probe on the untrained encoder {result['random_init_linear_probe']['accuracy']:.3f}")
    for frac, record in finetune(objective.encoder, exp, data, fractions, finetune_epochs).items():
        result.setdefault("finetune", {})[frac] = record
        log(f"fine-tuned on {frac} of the labels ({record['labels']}): {record['accuracy']:.3f}")
    if supervised:
        result["supervised"] = supervised_baseline(exp, data, device)
        log(f"supervised baseline ({exp.train.steps} steps from scratch, all labels): "
            f"{result['supervised']['accuracy']:.3f}")
    result["seconds"] = round(time.time() - started, 2)
    return result


def export_encoder(run: Run, out: Path) -> Path:
    """Save the run's encoder as a plain state dict plus what :func:`sslterm.models.load_encoder` needs."""
    exp, data, objective, step = restore(run, torch.device("cpu"))
    torch.save({"encoder": exp.model.encoder, "options": exp.model.options, "info": data.info, "step": step,
                "state_dict": objective.encoder.state_dict()}, out)
    return out
