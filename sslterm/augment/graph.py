"""Graph augmentations (GraphCL-style) over whole padded batches, with per-sample random choices.

Each function takes a batch ``{"x": [B, V, F], "adj": [B, V, V], "mask": [B, V], ...}``, a
parameter dict and a generator, and returns a new batch. Every random choice is a tensor drawn
from the generator for all graphs at once (no Python loop over graphs). Each keeps ``adj``
symmetric and the padding empty (zero features, no edges, mask False), and is the identity at
zero strength. You et al., "Graph Contrastive Learning with Augmentations", NeurIPS 2020.
"""

from __future__ import annotations

from typing import Any

import torch

from sslterm.data import Batch


def _node_mask(batch: Batch) -> torch.Tensor:
    """The batch's real-node mask [B, V] (all True when the batch carries none)."""
    m = batch.get("mask")
    x = batch["x"]
    return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if m is None else m.bool()


def edge_dropping(batch: Batch, p: dict[str, Any], gen: torch.Generator) -> Batch:
    """Drop each undirected edge independently with probability p (both directions at once)."""
    adj = batch["adj"]
    b, v, _ = adj.shape
    drop = (torch.rand(b, v, v, generator=gen, device=adj.device) < p["p"]).triu(1)
    drop = drop | drop.mT                                            # [B, V, V], symmetric
    return {**batch, "adj": adj.masked_fill(drop, 0)}


def node_feature_masking(batch: Batch, p: dict[str, Any], gen: torch.Generator) -> Batch:
    """Zero each feature column of a graph (``along = "features"``) or each node's features with probability p."""
    x = batch["x"]
    b, v, f = x.shape
    shape = (b, 1, f) if p["along"] == "features" else (b, v, 1)
    keep = torch.rand(shape, generator=gen, device=x.device) >= p["p"]
    return {**batch, "x": x * keep.to(x.dtype)}


def khop_order(adj: torch.Tensor, mask: torch.Tensor, seed: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A score per node [B, V]: hops from ``seed`` [B] plus a random tie-break in [0, 1); padding scores V + 1.

    Hops come from repeated dense matmuls (V - 1 frontier expansions); unreachable nodes score V.
    """
    b, v, _ = adj.shape
    a = adj.to(torch.float32)
    reach = torch.nn.functional.one_hot(seed, v).to(torch.float32)     # [B, V]
    hops = torch.full((b, v), float(v), device=adj.device)
    hops = hops.masked_fill(reach.bool(), 0.0)
    for h in range(1, v):                                                # fixed count: no host sync
        reach = ((reach.unsqueeze(1) @ a).squeeze(1) + reach).clamp(max=1)
        hops = torch.where(reach.bool() & (hops == v), float(h), hops)
    score = hops + torch.rand(b, v, generator=gen, device=adj.device)
    return score.masked_fill(~mask, float(v + 1))


def subgraph_sampling(batch: Batch, p: dict[str, Any], gen: torch.Generator) -> Batch:
    """Keep ceil(keep · n) nodes of each graph around a random seed node (a breadth-first ball), drop the rest.

    Nodes are taken in order of their hop distance from the seed (random order within a hop),
    so the kept nodes form a connected subgraph whenever the seed's component is big enough.
    Dropped nodes lose their features and edges and become padding (mask False).
    """
    x, adj = batch["x"], batch["adj"]
    mask = _node_mask(batch)
    b, v, _ = adj.shape
    dev = adj.device
    seed = torch.rand(b, v, generator=gen, device=dev).masked_fill(~mask, -1.0).argmax(dim=1)  # a real node
    score = khop_order(adj, mask, seed, gen)
    rank = score.argsort(dim=1).argsort(dim=1)                           # 0 = the seed
    n = mask.sum(dim=1)
    k = torch.ceil(p["keep"] * n.to(torch.float32) - 1e-6).clamp(min=1)
    kept = (rank < k[:, None]) & mask                                    # [B, V]
    pair = kept[:, :, None] & kept[:, None, :]
    out = {**batch, "x": x * kept[..., None].to(x.dtype), "adj": adj.masked_fill(~pair, 0)}
    if "mask" in batch:
        out["mask"] = kept.to(batch["mask"].dtype)
    return out
