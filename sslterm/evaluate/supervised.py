"""End-to-end training of an encoder with a linear head: fine-tuning, and the supervised baseline.

``train_end_to_end`` trains a copy of an encoder and a linear head with cross-entropy on labelled
training examples and reports held-out accuracy. Started from a run's pretrained encoder it is
fine-tuning; started from random weights with all the labels and the experiment's own step budget
and schedule it is the supervised baseline (``supervised_baseline``), the reference that tells how
close self-supervised features come to what the labels alone can buy. Neither uses augmentations:
the encoder sees the clean training inputs, so every objective on one dataset and encoder shares
one baseline.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sslterm.config import Experiment, TrainConfig
from sslterm.data import Dataset
from sslterm.models import Encoder, build_encoder
from sslterm.utils.schedule import lr_at

_CHUNK = 512


def train_end_to_end(encoder: Encoder, data: Dataset, idx: torch.Tensor, num_classes: int,
                     schedule: TrainConfig, seed: int) -> torch.Tensor:
    """Held-out accuracy after training a copy of ``encoder`` plus a linear head on examples ``idx``.

    ``schedule`` gives the steps, batch size, peak learning rate with its warm-up and cosine decay,
    and weight decay (AdamW). The encoder passed in is left unchanged.
    """
    if data.y_train is None or data.y_eval is None:
        raise ValueError("end-to-end training needs a labelled dataset")
    enc = copy.deepcopy(encoder).train()
    head = nn.Linear(enc.out_dim, num_classes).to(idx.device)
    opt = torch.optim.AdamW([*enc.parameters(), *head.parameters()], lr=schedule.lr,
                            weight_decay=schedule.weight_decay)
    gen = torch.Generator(device=idx.device).manual_seed(seed)
    batch_size = min(schedule.batch_size, len(idx))
    for step in range(schedule.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, schedule)
        pick = idx[torch.randint(len(idx), (batch_size,), generator=gen, device=idx.device)]
        loss = F.cross_entropy(head(enc(**data.batch("train", pick))), data.y_train[pick])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    enc.eval()
    correct = torch.zeros((), device=idx.device)
    with torch.no_grad():
        for chunk in torch.arange(data.size("eval"), device=idx.device).split(_CHUNK):
            correct += (head(enc(**data.batch("eval", chunk))).argmax(1) == data.y_eval[chunk]).sum()
    return correct / data.size("eval")


def supervised_baseline(exp: Experiment, data: Dataset, device: torch.device) -> dict[str, Any]:
    """The experiment's encoder trained from scratch on all training labels with its own ``[train]`` schedule.

    Returns ``{"accuracy", "steps", "batch_size", "augmentation", "seconds"}`` (accuracy held out).
    """
    started = time.perf_counter()
    num_classes = int(data.info.get("num_classes", 0))
    torch.manual_seed(exp.seed)                                    # initial weights fixed by the seed
    encoder = build_encoder(exp.model.encoder, data.info, exp.model.options).to(device)
    acc = train_end_to_end(encoder, data, torch.arange(len(data), device=device), num_classes, exp.train,
                           seed=exp.seed)
    return {"accuracy": acc.item(), "steps": exp.train.steps, "batch_size": exp.train.batch_size,
            "augmentation": "none", "seconds": round(time.perf_counter() - started, 2)}
