"""A message-passing graph encoder (GIN or GCN) on dense, padded adjacency, in plain torch."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sslterm import catalog
from sslterm.models.base import Encoder
from sslterm.models.transformer import masked_mean

CONVS = ("gin", "gcn")
READOUTS = ("mean", "sum", "both")


class MessagePassing(nn.Module):
    """One pre-norm residual layer: h ← h + MLP(aggregate(LayerNorm(h))) over a dense adjacency.

    ``gin`` (Xu et al., "How Powerful are Graph Neural Networks?", ICLR 2019) aggregates
    (1 + ε)·u_i + Σ_{j∈N(i)} u_j with a learnt ε; ``gcn`` (Kipf & Welling, ICLR 2017) aggregates
    D^{-1/2}(A + I)D^{-1/2} u.
    """

    def __init__(self, dim: int, conv: str) -> None:
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"conv must be one of {', '.join(CONVS)}, got {conv!r}")
        self.conv = conv
        self.norm = nn.LayerNorm(dim)
        self.eps = nn.Parameter(torch.zeros(()))
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, h: torch.Tensor, adj: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """h [B, V, D], adj [B, V, V] (padding rows and columns zero), mask [B, V] → [B, V, D]."""
        u = self.norm(h)
        if self.conv == "gin":
            msg = (1 + self.eps) * u + adj @ u
        else:
            d = (adj.sum(-1) + 1).rsqrt()                        # degree with the self loop, [B, V]
            msg = d[..., None] * (adj @ (d[..., None] * u) + d[..., None] * u)
        return (h + self.mlp(msg)) * mask[..., None]


_DEFAULTS = catalog.get("encoder", "gnn").defaults()
"""GNNEncoder's defaults: the catalog declares them, once."""


class GNNEncoder(Encoder):
    """Node embedding, ``layers`` message-passing layers, LayerNorm, masked readout over real nodes.

    Input: node features x [B, V, F], adjacency adj [B, V, V] (0/1, symmetric), real-node mask
    [B, V]. Output: pooled features [B, dim] (``readout`` mean or sum) or [B, 2·dim] (both).
    Padding nodes never reach a real node or the readout, so the output does not depend on how
    much padding a graph has, and it is invariant to relabelling the nodes.

    Token contract: a token is a node. ``tokens`` are the node embeddings [B, V, dim] (zero at
    padding), ``valid_tokens`` is the node mask, ``hide`` zeroes the features of hidden nodes
    (their edges stay, so structure is still visible), and ``token_targets`` are the input
    features plus log(1 + degree) as a last channel [B, V, F + 1]: the degree is what a masked
    node's position still determines, so masked node prediction has a learnable part even when
    the features are noise.
    """

    def __init__(self, in_features: int, max_nodes: int, dim: int = _DEFAULTS["dim"], layers: int = _DEFAULTS["layers"],
                 conv: str = _DEFAULTS["conv"], readout: str = _DEFAULTS["readout"]) -> None:
        super().__init__()
        if in_features < 1 or max_nodes < 1 or dim < 1 or layers < 1:
            raise ValueError(f"in_features, max_nodes, dim and layers must be ≥ 1, got "
                             f"{in_features}, {max_nodes}, {dim}, {layers}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        self.readout = readout
        self.embed = nn.Linear(in_features, dim)
        self.layers = nn.ModuleList(MessagePassing(dim, conv) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.token_dim = dim
        self.out_dim = 2 * dim if readout == "both" else dim
        self.token_grid = (max_nodes,)
        self.target_dim = in_features + 1                        # token_targets: features and log(1 + degree)

    @staticmethod
    def _inputs(x: torch.Tensor, adj: torch.Tensor | None,
                mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The node mask [B, V] (all True if absent) and the adjacency restricted to real nodes."""
        if adj is None:
            raise ValueError("a graph batch needs 'adj' [B, V, V] next to 'x' [B, V, F]")
        m = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask.bool()
        a = adj.to(x.dtype) * (m[:, :, None] & m[:, None, :]).to(x.dtype)
        return m, a

    def tokens(self, x: torch.Tensor, causal: bool = False, adj: torch.Tensor | None = None,
               mask: torch.Tensor | None = None, **_: torch.Tensor) -> torch.Tensor:
        """Node embeddings [B, V, dim], zero at padding (message passing has no causal order)."""
        if causal:
            raise NotImplementedError("a GNN's nodes see their neighbours in every direction; it has no causal mode")
        m, a = self._inputs(x, adj, mask)
        w = m[..., None].to(x.dtype)
        h = self.embed(x) * w                                    # [B, V, D]
        for layer in self.layers:
            h = layer(h, a, m)
        return self.norm(h) * w

    def forward(self, x: torch.Tensor, adj: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                **_: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x, adj=adj, mask=mask)                   # [B, V, D]
        m = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask.bool()
        if self.readout == "mean":
            return masked_mean(h, m)
        if self.readout == "sum":
            return h.sum(dim=1)
        return torch.cat([masked_mean(h, m), h.sum(dim=1)], dim=1)

    def token_targets(self, x: torch.Tensor, adj: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                      **_: torch.Tensor) -> torch.Tensor:
        """Input features and log(1 + degree) per node: [B, V, F + 1], zero at padding."""
        m, a = self._inputs(x, adj, mask)
        degree = torch.log1p(a.sum(dim=-1, keepdim=True))        # [B, V, 1]
        return torch.cat([x, degree], dim=-1) * m[..., None].to(x.dtype)

    def hide(self, x: torch.Tensor, hidden: torch.Tensor, /, **_: torch.Tensor) -> torch.Tensor:
        """Zero the features of the nodes where ``hidden`` [B, V] is True.

        ``hidden`` is positional-only: a graph batch passed as ``**batch`` already has a ``mask``
        key (the real-node mask).
        """
        return x.masked_fill(hidden[..., None], 0.0)

    def valid_tokens(self, x: torch.Tensor, mask: torch.Tensor | None = None, **_: torch.Tensor) -> torch.Tensor | None:
        """The real-node mask [B, V] (None when the batch has no padding mask)."""
        return None if mask is None else mask.bool()


def build_gnn(info: dict[str, Any], options: dict[str, Any]) -> GNNEncoder:
    """A :class:`GNNEncoder` for the graphs described by ``info``, from its catalog options."""
    return GNNEncoder(int(info["node_features"]), int(info["max_nodes"]), int(options["dim"]),
                      int(options["layers"]), str(options["conv"]), str(options["readout"]))
