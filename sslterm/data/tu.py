"""The TU graph benchmark text format (MUTAG, PROTEINS, NCI1, IMDB-BINARY, ...), read into dense padded graphs.

A folder holds ``DS_A.txt`` (one ``i, j`` edge per line; nodes numbered from 1 across all graphs),
``DS_graph_indicator.txt`` (the graph of each node, from 1, nodes of a graph consecutive), and
optionally ``DS_graph_labels.txt`` (a label per graph), ``DS_node_labels.txt`` (an integer per node,
one-hot encoded into the features) and ``DS_node_attributes.txt`` (comma-separated floats per node).
Parsing is vectorised (numpy over all lines at once); no loop runs over graphs or nodes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sslterm.data.npz import fail

EXPECTED = ("a TU dataset folder: DS_A.txt ('i, j' edges, nodes from 1), DS_graph_indicator.txt (a graph id "
            "per node, from 1) and optional DS_graph_labels.txt, DS_node_labels.txt, DS_node_attributes.txt")


def tu_prefix(folder: Path) -> Path | None:
    """``folder/DS`` for the one ``DS_A.txt`` in ``folder``, or None where there is none."""
    found = sorted(folder.glob("*_A.txt"))
    if not found:
        return None
    if len(found) > 1:
        raise fail(folder, f"{len(found)} *_A.txt files ({', '.join(f.name for f in found[:3])})",
                   "one TU dataset per folder")
    return found[0].with_name(found[0].name[: -len("_A.txt")])


def _numbers(path: Path, dtype: type, columns: int | None = None) -> np.ndarray:
    """The numbers of a TU text file (comma- or space-separated), one row per line: [lines] or [lines, columns]."""
    try:
        text = path.read_text(encoding="utf-8").replace(",", " ")
        flat: np.ndarray = np.array(text.split(), dtype=dtype)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise fail(path, f"not a file of numbers ({type(e).__name__})", EXPECTED) from None
    lines = sum(1 for line in text.splitlines() if line.strip())
    if lines == 0 or flat.size % lines or (columns is not None and flat.size != lines * columns):
        raise fail(path, f"{flat.size} numbers on {lines} lines", EXPECTED)
    return flat.reshape(lines, -1) if columns != 1 else flat


def read_tu(folder: Path, prefix: Path, max_nodes: int) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor,
                                                                  np.ndarray | None]:
    """(node features float [N, V, F] or None, adj bool [N, V, V], mask [N, V], raw graph labels or None)."""
    graph_of = _numbers(Path(f"{prefix}_graph_indicator.txt"), np.int64, 1) - 1            # [nodes], from 0
    edges = _numbers(Path(f"{prefix}_A.txt"), np.int64, None) - 1                          # [E, 2], from 0
    nodes, name = len(graph_of), folder
    if edges.ndim != 2 or edges.shape[1] != 2 or edges.min() < 0 or edges.max() >= nodes:
        raise fail(f"{prefix}_A.txt", f"edges must be 2 node ids in 1..{nodes}", EXPECTED)
    if graph_of.min() < 0 or (np.diff(graph_of) < 0).any():
        raise fail(f"{prefix}_graph_indicator.txt", "graph ids must start at 1 and not decrease", EXPECTED)
    n = int(graph_of.max()) + 1
    sizes = np.bincount(graph_of, minlength=n)
    if (sizes > max_nodes).any():
        g = int(sizes.argmax())
        raise fail(name, f"graph {g + 1} has {int(sizes[g])} nodes, more than max_nodes = {max_nodes}",
                   "graphs of at most max_nodes nodes (raise data.max_nodes)")
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pos = np.arange(nodes) - first[graph_of]                                               # node's index in its graph
    g_u, g_v = graph_of[edges[:, 0]], graph_of[edges[:, 1]]
    if (g_u != g_v).any():
        raise fail(f"{prefix}_A.txt", "an edge joins two graphs", EXPECTED)
    adj = torch.zeros(n, max_nodes, max_nodes, dtype=torch.bool)
    adj[torch.from_numpy(g_u), torch.from_numpy(pos[edges[:, 0]]), torch.from_numpy(pos[edges[:, 1]])] = True
    mask = torch.arange(max_nodes)[None] < torch.from_numpy(sizes)[:, None]
    parts = []
    node_labels = Path(f"{prefix}_node_labels.txt")
    if node_labels.is_file():
        raw = _numbers(node_labels, np.int64, None)[:, 0]
        if len(raw) != nodes:
            raise fail(node_labels, f"{len(raw)} labels for {nodes} nodes", EXPECTED)
        _, index = np.unique(raw, return_inverse=True)
        parts.append(np.eye(int(index.max()) + 1, dtype=np.float32)[index.reshape(-1)])
    attributes = Path(f"{prefix}_node_attributes.txt")
    if attributes.is_file():
        attrs = _numbers(attributes, np.float32, None)
        if len(attrs) != nodes or not np.isfinite(attrs).all():
            raise fail(attributes, f"{len(attrs)} rows for {nodes} nodes, or values that are not finite", EXPECTED)
        parts.append(attrs)
    x = None
    if parts:
        feats = np.concatenate(parts, axis=1)
        dense = np.zeros((n, max_nodes, feats.shape[1]), dtype=np.float32)
        dense[graph_of, pos] = feats
        x = torch.from_numpy(dense)
    labels = Path(f"{prefix}_graph_labels.txt")
    y = None
    if labels.is_file():
        y = _numbers(labels, np.int64, 1)
        if len(y) != n:
            raise fail(labels, f"{len(y)} labels for {n} graphs", EXPECTED)
    return x, adj, mask, y
