"""Measures, between training steps, what the representation is worth and whether it collapses.

Everything here runs in eval mode under ``no_grad`` with its own random generator, so turning
it on or off never changes the weights the training loop produces. Results stay device tensors
until the loop logs them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslterm.augment import Pipeline
from sslterm.config import Experiment
from sslterm.data import Batch, Dataset
from sslterm.evaluate.diagnostics import alignment, embedding_std, rankme, uniformity
from sslterm.evaluate.probes import OnlineProbe, knn_accuracy
from sslterm.objectives import Objective

_CHUNK = 512


@torch.no_grad()
def extract(objective: Objective, data: Dataset, split: str, n: int, device: torch.device) -> torch.Tensor:
    """Encoder features [n, D] of the first ``n`` examples of ``split``, in chunks, eval mode."""
    was = objective.training
    objective.eval()
    idx = torch.arange(n, device=device)
    feats = torch.cat([objective.features(data.batch(split, chunk)) for chunk in idx.split(_CHUNK)])
    objective.train(was)
    return feats


class Monitor:
    """kNN and online-probe accuracy, collapse diagnostics and the held-out objective loss."""

    def __init__(self, exp: Experiment, data: Dataset, objective: Objective, augment: Pipeline,
                 device: torch.device) -> None:
        self.cfg = exp.eval
        self.data, self.objective, self.augment, self.device = data, objective, augment, device
        self.n_eval = min(self.cfg.max_examples, data.size("eval"))
        self.n_bank = min(self.cfg.bank_size, len(data))
        self.num_classes = int(data.info.get("num_classes", 0))
        self.labelled = data.y_train is not None and data.y_eval is not None and self.num_classes >= 2
        self.seed = exp.seed + 3
        self.probe: OnlineProbe | None = None
        self._captured: torch.Tensor | None = None
        if self.labelled and self.cfg.online_probe:
            dim = int(objective.encoder.out_dim)
            self.probe = OnlineProbe(dim, self.num_classes).to(device)
            objective.encoder.register_forward_hook(self._capture)

    def _capture(self, module: torch.nn.Module, _inputs: object, output: object) -> None:
        """Keep the encoder's pooled features from the training forward pass (detached, no copy)."""
        if module.training and isinstance(output, torch.Tensor) and output.dim() == 2:
            self._captured = output.detach()

    def describe(self) -> str:
        """One line for the worker log saying what is measured."""
        if not self.labelled:
            return "no labels: kNN and probes are skipped (collapse diagnostics still run)"
        return (f"monitoring every {self.cfg.every} steps: kNN (k={self.cfg.knn_k}) over {self.n_bank} training "
                f"examples, {'online linear probe, ' if self.probe else ''}on {self.n_eval} held-out examples")

    @torch.no_grad()
    def probe_step(self, batch: Batch, idx: torch.Tensor) -> None:
        """Train the online probe on this step's detached encoder features.

        As in solo-learn, the features are those the objective's own forward pass computed for
        its augmented views (captured by a hook: no extra encoder pass). Objectives that never
        call the encoder's pooled forward (masked, next-token) get one extra pass on the clean batch.
        """
        if self.probe is None or self.data.y_train is None:
            return
        y = self.data.y_train[idx]
        feats, self._captured = self._captured, None
        if feats is None or feats.shape[0] % len(idx):
            was = self.objective.training
            self.objective.eval()
            feats = self.objective.features(batch)
            self.objective.train(was)
        else:
            y = y.repeat(feats.shape[0] // len(idx))                # views are stacked: [v1; v2; ...]
        with torch.enable_grad():
            self.probe.update(feats, y)

    @torch.no_grad()
    def evaluate(self) -> dict[str, torch.Tensor]:
        """Every measurement as a scalar device tensor (read back by the loop when it logs)."""
        out: dict[str, torch.Tensor] = {}
        feats = extract(self.objective, self.data, "eval", self.n_eval, self.device)
        out["emb_std"] = embedding_std(feats)
        out["emb_dim"] = torch.tensor(feats.shape[1])
        out["rankme"] = rankme(feats)
        if self.labelled:
            assert self.data.y_train is not None and self.data.y_eval is not None
            y_eval = self.data.y_eval[: self.n_eval]
            bank = extract(self.objective, self.data, "train", self.n_bank, self.device)
            out["knn_acc"] = knn_accuracy(bank, self.data.y_train[: self.n_bank], feats, y_eval, self.num_classes,
                                          k=self.cfg.knn_k)
            if self.probe is not None:
                out["probe_acc"] = self.probe.accuracy(feats, y_eval)
        out.update(self._views_and_loss())
        return out

    def _views_and_loss(self) -> dict[str, torch.Tensor]:
        """Alignment/uniformity of two augmented views, and the objective's loss on held-out data."""
        gen = torch.Generator(device=self.device).manual_seed(self.seed)
        n = min(self.n_eval, 256)
        batch = self.data.batch("eval", torch.arange(n, device=self.device))
        was = self.objective.training
        self.objective.eval()
        v1, v2 = self.objective.embed(self.augment(batch, gen)), self.objective.embed(self.augment(batch, gen))
        out = {"align": alignment(v1, v2), "uniform": uniformity(F.normalize(v1, dim=1))}
        loss, extra = self.objective(batch, self.augment, gen)
        self.objective.train(was)
        out["eval_loss"] = loss
        out.update({f"eval_{k}": v for k, v in extra.items()})
        return out
