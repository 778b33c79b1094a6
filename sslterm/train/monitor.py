"""Measures, between training steps, what the representation is worth and whether it collapses.

Everything here runs under ``no_grad``, in eval mode with its own random generator or on features
the training step already computed (detached), so turning it on or off never changes the weights
the training loop produces. Results stay device tensors until the loop logs them.

What it costs. The online probe and the kNN feature bank learn from the pooled encoder features
that the objective's own forward pass computed for its augmented views, captured by a forward hook
(as solo-learn's online probe and kNN do): no extra encoder pass. Objectives that never compute
pooled features (masked and next-token prediction, inpainting) pay one extra pass over the clean
batch every ``EXTRA_EVERY`` steps instead. An evaluation encodes the held-out examples once, plus
two views of one training-sized batch of them for alignment, uniformity and the held-out loss.

Held-out losses are honest: for objectives whose targets are the input (next-token, masked,
inpainting) they are measured with no augmentation at all, over every one of the ``n_eval`` held-out
examples (in training-sized batches, each weighted by the targets it holds), so held-out bits per
byte count every held-out byte the windows cover; the other objectives' held-out loss needs views
and is measured on one training-sized batch of them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from sslterm.augment import Pipeline
from sslterm.config import Experiment
from sslterm.data import Batch, Dataset
from sslterm.objectives import Objective
from sslterm.objectives.features import extract
from sslterm.train.accel import fused_available
from sslterm.train.modes import mode
from sslterm.utils.diagnostics import alignment, embedding_std, rankme, uniformity
from sslterm.utils.probes import OnlineProbe, knn_accuracy

EXTRA_EVERY = 8
"""Steps between the extra clean passes for objectives whose forward computes no pooled features."""


def _unchanged(batch: Batch, _gen: torch.Generator) -> Batch:
    """No augmentation: held-out losses of objectives whose targets are the input see clean data."""
    return batch


class FeatureBank:
    """The most recent ``size`` training features and their labels, a ring buffer on the device.

    Writing is slicing with host-side positions: no device sync.
    """

    def __init__(self, size: int, dim: int, device: torch.device) -> None:
        self.size = size
        self.feats = torch.zeros(size, dim, device=device)
        self.labels = torch.zeros(size, dtype=torch.long, device=device)
        self.pos = self.filled = 0

    def add(self, feats: torch.Tensor, y: torch.Tensor) -> None:
        """Write rows of ``feats`` [m, dim] and ``y`` [m] over the oldest ones."""
        m = min(int(feats.shape[0]), self.size)
        feats, y = feats[-m:], y[-m:]
        first = min(m, self.size - self.pos)                      # up to the end of the buffer
        self.feats[self.pos:self.pos + first] = feats[:first]
        self.labels[self.pos:self.pos + first] = y[:first]
        self.feats[:m - first] = feats[first:]                    # the rest wraps to the start
        self.labels[:m - first] = y[first:]
        self.pos = (self.pos + m) % self.size
        self.filled = min(self.size, self.filled + m)

    def view(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The filled part: features [n, dim] and labels [n]."""
        return self.feats[:self.filled], self.labels[:self.filled]

    def state(self) -> dict[str, Any]:
        """The bank's contents, for checkpoints."""
        return {"feats": self.feats, "labels": self.labels, "pos": self.pos, "filled": self.filled}

    def load(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` saved (into a bank of the same size and width)."""
        self.feats.copy_(state["feats"])
        self.labels.copy_(state["labels"])
        self.pos, self.filled = int(state["pos"]), int(state["filled"])


class Monitor:
    """kNN and online-probe accuracy, collapse diagnostics and the held-out objective loss."""

    def __init__(self, exp: Experiment, data: Dataset, objective: Objective, augment: Pipeline,
                 device: torch.device, main: bool = True) -> None:
        self.cfg = exp.eval
        self.data, self.objective, self.augment, self.device = data, objective, augment, device
        self.n_eval = min(self.cfg.max_examples, data.size("eval"))
        self.n_views = min(self.n_eval, exp.train.batch_size, 256)   # the held-out loss at the training batch size
        self.num_classes = int(data.info.get("num_classes", 0))
        self.labelled = data.y_train is not None and data.y_eval is not None and self.num_classes >= 2
        self.seed = exp.seed + 3
        self.main = main
        self.probe: OnlineProbe | None = None
        self.bank: FeatureBank | None = None
        self._captured: torch.Tensor | None = None
        if main and self.labelled and self.cfg.every > 0:             # only rank 0 logs what they measure
            dim = int(objective.encoder.out_dim)
            self.bank = FeatureBank(self.cfg.bank_size, dim, device)
            if self.cfg.online_probe:
                self.probe = OnlineProbe(dim, self.num_classes, fused=fused_available(device)).to(device)
            objective.encoder.register_forward_hook(self._capture)

    @property
    def learns(self) -> bool:
        """Whether :meth:`probe_step` needs each step's batch and labels."""
        return self.bank is not None

    def _capture(self, module: torch.nn.Module, _inputs: object, output: object) -> None:
        """Keep the encoder's pooled features from the training forward pass (detached, no copy)."""
        if module.training and isinstance(output, torch.Tensor) and output.dim() == 2:
            self._captured = output.detach()

    def describe(self) -> str:
        """One line for the worker log saying what is measured."""
        if not self.labelled:
            return "no labels: kNN and probes are skipped (collapse diagnostics still run)"
        if not self.main:
            return "rank 0 trains the online probe and logs the evaluations"
        if self.bank is None:
            return "evaluation is off (eval.every = 0)"
        return (f"monitoring every {self.cfg.every} steps: kNN (k={self.cfg.knn_k}) against the last "
                f"{self.bank.size} training features, {'online linear probe, ' if self.probe else ''}"
                f"on {self.n_eval} held-out examples")

    @torch.no_grad()
    def probe_step(self, batch: Batch, y: torch.Tensor | None, step: int) -> None:
        """Feed this step's detached encoder features and labels ``y`` to the online probe and the kNN bank.

        The features are those the objective's own forward pass computed for its augmented views
        (captured by the hook). Objectives that never call the encoder's pooled forward get an extra
        eval-mode pass on the clean batch at steps 1, 1 + EXTRA_EVERY, ...
        """
        feats, self._captured = self._captured, None
        if self.bank is None or y is None:
            return
        if feats is not None and feats.shape[0] % y.shape[0] == 0:
            y = y.repeat(feats.shape[0] // y.shape[0])             # views are stacked: [v1; v2; ...]
        elif (step - 1) % EXTRA_EVERY == 0:
            with mode(self.objective, False):
                feats = self.objective.features(batch)
        else:
            return
        if self.probe is not None:
            self.probe.update(feats, y)
        self.bank.add(feats, y)

    @torch.no_grad()
    def evaluate(self) -> dict[str, torch.Tensor]:
        """Every measurement as a scalar tensor (read back by the loop when it logs).

        Features that are no longer finite (a diverged encoder) give only ``features`` = NaN, which
        the loop reports as divergence: the measurements (an SVD among them) would fail on them.
        """
        out: dict[str, torch.Tensor] = {}
        feats = extract(self.objective, self.data, "eval", self.n_eval, self.device)
        if not bool(torch.isfinite(feats).all()):                  # a sync, but evaluations are log steps
            return {"features": torch.tensor(float("nan"), device=self.device)}
        out["emb_std"] = embedding_std(feats)
        out["emb_dim"] = torch.tensor(feats.shape[1])
        out["rankme"] = rankme(feats)
        if self.bank is not None and self.bank.filled and self.data.y_eval is not None:
            y_eval = self.data.y_eval[: self.n_eval]
            bank, bank_y = self.bank.view()
            out["knn_acc"] = knn_accuracy(bank, bank_y, feats, y_eval, self.num_classes, k=self.cfg.knn_k)
            if self.probe is not None:
                out["probe_acc"] = self.probe.accuracy(feats, y_eval)
        out.update(self._views_and_loss())
        return out

    def _views_and_loss(self) -> dict[str, torch.Tensor]:
        """Alignment/uniformity of two augmented views, and the objective's loss on held-out data."""
        gen = torch.Generator(device=self.device).manual_seed(self.seed)
        batch = self.data.batch("eval", torch.arange(self.n_views, device=self.device))
        with mode(self.objective, False):
            v1, v2 = self.objective.embed(self.augment(batch, gen)), self.objective.embed(self.augment(batch, gen))
            out = {"align": alignment(v1, v2), "uniform": uniformity(F.normalize(v1, dim=1))}
            if self.objective.targets_are_input:
                loss, extra = self._clean_loss(gen)
            else:
                loss, extra = self.objective(batch, self.augment, gen)
        out["eval_loss"] = loss
        out.update({f"eval_{k}": v for k, v in extra.items()})
        return out

    def _clean_loss(self, gen: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The objective's loss and metrics over all ``n_eval`` held-out examples, unaugmented, target-weighted."""
        total: dict[str, torch.Tensor] = {}
        weight: dict[str, torch.Tensor] = {}
        for start in range(0, self.n_eval, self.n_views):
            idx = torch.arange(start, min(start + self.n_views, self.n_eval), device=self.device)
            batch = self.data.batch("eval", idx)
            loss, extra = self.objective(batch, _unchanged, gen)
            w = self.objective.target_count(batch)
            other = self.objective.metric_weights(batch)                   # bits per byte: by bytes
            for k, v in {"loss": loss, **extra}.items():
                wk = other.get(k, w)
                total[k] = total.get(k, 0) + v.detach().float() * wk
                weight[k] = weight.get(k, 0) + wk
        mean = {k: v / weight[k].clamp(min=1) for k, v in total.items()}
        return mean.pop("loss"), mean

    def state(self) -> dict[str, Any]:
        """What continues across a resume: the online probe and the feature bank."""
        out: dict[str, Any] = {}
        if self.probe is not None:
            out["online_probe"] = self.probe.state()
        if self.bank is not None:
            out["knn_bank"] = self.bank.state()
        return out

    def load(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` saved (parts this run does not have are ignored)."""
        if self.probe is not None and "online_probe" in state:
            self.probe.load(state["online_probe"])
        bank = state.get("knn_bank")
        if self.bank is not None and bank is not None and bank["feats"].shape == self.bank.feats.shape:
            self.bank.load(bank)
