"""Graph datasets: ``graph_families`` (labelled graphs of 10 families, generated) and ``graph_files``.

Every graph is padded to ``max_nodes`` = V nodes. A batch holds node features ``x`` float
[N, V, F], the adjacency ``adj`` float [N, V, V] (symmetric 0/1, no self loops, zero rows and
columns at padding) and ``mask`` bool [N, V] (True at real nodes). Generation loops over the
families, never over graphs: each family's adjacency is one comparison of node-index grids.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslterm.data import Dataset
from sslterm.data.npz import encode_labels, fail, read_npz
from sslterm.data.splits import split_labelled
from sslterm.data.tu import EXPECTED as TU_EXPECTED
from sslterm.data.tu import read_tu, tu_prefix
from sslterm.formats import AUTO, Format, detect

FAMILIES = (
    "cycle", "path", "star", "grid", "complete", "binary_tree", "wheel", "ladder", "erdos_renyi", "two_communities",
)


def _upper_random(p: torch.Tensor, v: int, gen: torch.Generator) -> torch.Tensor:
    """Symmetric random edges, each pair (i < j) present with its graph's probability p [M]: bool [M, V, V]."""
    r = torch.rand(p.shape[0], v, v, generator=gen) < p[:, None, None]
    r = r.triu(1)
    return r | r.mT


def family_adjacency(family: str, n: torch.Tensor, v: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Adjacency of graphs of one family on nodes 0..n-1 (n [M]): (bool [M, V, V], node counts [M])."""
    i = torch.arange(v).view(1, v, 1)
    j = torch.arange(v).view(1, 1, v)
    nv = n.view(-1, 1, 1)
    lo, hi = torch.minimum(i, j), torch.maximum(i, j)
    step = hi - lo == 1
    if family == "cycle":
        a = step | ((lo == 0) & (hi == nv - 1))
    elif family == "path":
        a = step.expand(n.shape[0], v, v)
    elif family == "star":
        a = ((lo == 0) & (hi > 0)).expand(n.shape[0], v, v)
    elif family == "grid":
        width = (n.float().sqrt().floor().long() + torch.randint(-1, 2, n.shape, generator=gen)).clamp(min=3)
        w = width.view(-1, 1, 1)
        a = (step & (lo % w != w - 1)) | (hi - lo == w)
    elif family == "complete":
        a = (lo != hi).expand(n.shape[0], v, v)
    elif family == "binary_tree":
        a = ((hi == 2 * lo + 1) | (hi == 2 * lo + 2)).expand(n.shape[0], v, v)
    elif family == "wheel":
        a = ((lo == 0) & (hi > 0)) | (step & (lo >= 1)) | ((lo == 1) & (hi == nv - 1))
    elif family == "ladder":
        n = n - n % 2
        k = (n // 2).view(-1, 1, 1)
        a = (step & ((lo < k) == (hi < k))) | (hi - lo == k)
    elif family == "erdos_renyi":
        degree = 2.5 + 1.5 * torch.rand(n.shape, generator=gen)
        a = _upper_random(degree / (n - 1).float(), v, gen)
    elif family == "two_communities":
        half = (n // 2).view(-1, 1, 1)
        p_in = (0.4 + 0.25 * torch.rand(n.shape, generator=gen)).view(-1, 1, 1)
        p_out = (0.1 / n.float()).view(-1, 1, 1)
        same = (i < half) == (j < half)
        r = torch.rand(n.shape[0], v, v, generator=gen) < torch.where(same, p_in, p_out)
        r = r.triu(1)
        a = r | r.mT
    else:
        raise ValueError(f"unknown graph family {family!r}; expected one of {', '.join(FAMILIES)}")
    nv = n.view(-1, 1, 1)
    real = (i < nv) & (j < nv)
    return a & real & (i != j), n


def permute_nodes(adj: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Relabel the nodes of every graph: out[b, i, j] = adj[b, perm[b, i], perm[b, j]] (batched gather)."""
    v = adj.shape[-1]
    rows = adj.gather(1, perm[:, :, None].expand(-1, -1, v))
    return rows.gather(2, perm[:, None, :].expand(-1, v, -1))


def node_features(mask: torch.Tensor, f: int, gen: torch.Generator) -> torch.Tensor:
    """Features that say nothing about the graph: channel 0 is 1, the others N(0, 1); zero at padding."""
    x = torch.randn(*mask.shape, f, generator=gen)
    x[..., 0] = 1.0
    return x * mask[..., None]


def generate_graphs(num: int, max_nodes: int, min_nodes: int, f: int, edge_noise: float,
                    gen: torch.Generator) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``num`` labelled graphs with balanced families: ({x, adj, mask}, labels int64 [num])."""
    labels = (torch.arange(num) % len(FAMILIES))[torch.randperm(num, generator=gen)]
    counts = torch.randint(min_nodes, max_nodes + 1, (num,), generator=gen)
    adj = torch.zeros(num, max_nodes, max_nodes, dtype=torch.bool)
    for c, family in enumerate(FAMILIES):                   # over the 10 families, not over graphs
        idx = (labels == c).nonzero().squeeze(1)
        adj[idx], counts[idx] = family_adjacency(family, counts[idx], max_nodes, gen)
    mask = torch.arange(max_nodes)[None] < counts[:, None]  # [num, V]
    if edge_noise > 0:                                      # toggle a few random pairs of real nodes
        flip = _upper_random(edge_noise / (counts - 1).float(), max_nodes, gen)
        adj = adj ^ (flip & mask[:, :, None] & mask[:, None, :])
    keys = torch.rand(num, max_nodes, generator=gen).masked_fill(~mask, 2.0)
    adj = permute_nodes(adj, keys.argsort(dim=1))           # random relabelling of the real nodes
    x = node_features(mask, f, gen)
    return {"x": x, "adj": adj.float(), "mask": mask}, labels


def build_graph_families(options: dict[str, Any]) -> Dataset:
    """Generate the train and held-out splits of ``graph_families`` from its catalog options."""
    v, lo, f = int(options["max_nodes"]), int(options["min_nodes"]), int(options["node_features"])
    if lo > v:
        raise ValueError(f"graph_families: min_nodes = {lo} exceeds max_nodes = {v}; expected min_nodes ≤ max_nodes")
    gen = torch.Generator().manual_seed(int(options["seed"]))
    noise = float(options["edge_noise"])
    train, y_tr = generate_graphs(int(options["num_samples"]), v, lo, f, noise, gen)
    held, y_ev = generate_graphs(int(options["num_eval"]), v, lo, f, noise, gen)
    info = {"max_nodes": v, "node_features": f, "num_classes": len(FAMILIES)}
    return Dataset(train, held, y_tr, y_ev, FAMILIES, info)


# ---- the user's own graphs ------------------------------------------------------------------

_NPZ_EXPECTED = "an .npz with adj [N, V, V] and optional x [N, V, F], mask [N, V], y [N]"
_EDGE_EXPECTED = "lines 'graph_id src dst' (node ids are integers ≥ 0) separated by spaces or commas, # for comments"


def _too_big(path: Path, graph: str, size: int, max_nodes: int) -> ValueError:
    return fail(path, f"graph {graph} has {size} nodes, more than max_nodes = {max_nodes}",
                 "graphs of at most max_nodes nodes (raise data.max_nodes)")


def _read_npz(path: Path, max_nodes: int) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, np.ndarray | None]:
    """(x or None, adj bool [N, V, V], mask [N, V], raw labels or None) from an .npz archive."""
    arrays = read_npz(path, _NPZ_EXPECTED)
    if "adj" not in arrays:
        raise fail(path, f"no array 'adj' (found {', '.join(arrays) or 'none'})", _NPZ_EXPECTED)
    a = arrays["adj"]
    if a.ndim != 3 or a.shape[1] != a.shape[2] or a.shape[0] < 1:
        raise fail(path, f"adj has shape {a.shape}", "adj [N, V, V]")
    n, v = a.shape[:2]
    adj = torch.from_numpy(np.asarray(a != 0))
    mask = torch.ones(n, v, dtype=torch.bool)
    if "mask" in arrays:
        if arrays["mask"].shape != (n, v):
            raise fail(path, f"mask has shape {arrays['mask'].shape}", f"mask [N, V] = {(n, v)}")
        mask = torch.from_numpy(np.asarray(arrays["mask"] != 0))
    x = None
    if "x" in arrays:
        xa = arrays["x"]
        if xa.ndim != 3 or xa.shape[:2] != (n, v) or not np.issubdtype(xa.dtype, np.number):
            raise fail(path, f"x has shape {xa.shape} and dtype {xa.dtype}",
                        f"numbers x [N, V, F] with N, V = {n}, {v}")
        x = torch.from_numpy(xa.astype(np.float32))
        if not torch.isfinite(x).all():
            raise fail(path, "x holds NaN or infinite values", "finite node features")
    y = arrays.get("y")
    if y is not None and y.shape != (n,):
        raise fail(path, f"y has shape {y.shape}", f"one label per graph, y [{n}]")
    sizes = mask.sum(1)
    if (sizes > max_nodes).any():
        g = int(sizes.argmax())
        raise _too_big(path, str(g), int(sizes[g]), max_nodes)
    order = (~mask).to(torch.uint8).argsort(dim=1, stable=True)  # real nodes first, then crop/pad to max_nodes
    adj = permute_nodes(adj & mask[:, :, None] & mask[:, None, :], order)
    mask = mask.gather(1, order)
    if x is not None:
        x = x.gather(1, order[:, :, None].expand(-1, -1, x.shape[2]))
    pad = max_nodes - v
    if pad >= 0:
        adj = torch.nn.functional.pad(adj, (0, pad, 0, pad))
        mask = torch.nn.functional.pad(mask, (0, pad))
        x = None if x is None else torch.nn.functional.pad(x, (0, 0, 0, pad))
    else:
        adj, mask = adj[:, :max_nodes, :max_nodes], mask[:, :max_nodes]
        x = None if x is None else x[:, :max_nodes]
    return x, adj, mask, y


def _split_fields(line: str) -> list[str]:
    return [f for f in re.split(r"[,\s]+", line.split("#", 1)[0].strip()) if f]


def _read_edge_list(path: Path, max_nodes: int) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(graph ids in order of appearance, adj bool [N, V, V], mask [N, V]) from 'graph_id src dst' lines."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise fail(path, "not a UTF-8 text file", _EDGE_EXPECTED) from None
    ids: dict[str, int] = {}
    gi: list[int] = []
    ends: list[tuple[int, int]] = []
    first = True
    for lineno, line in enumerate(lines, 1):
        fields = _split_fields(line)
        if not fields:
            continue
        header, first = first and len(fields) == 3 and not any(f.isdecimal() for f in fields[1:]), False
        if header:                                           # e.g. "graph,src,dst" atop a CSV
            continue
        if len(fields) != 3 or not (fields[1].isdecimal() and fields[2].isdecimal()):
            raise fail(path, f"line {lineno}: got {line.strip()!r}", _EDGE_EXPECTED)
        gi.append(ids.setdefault(fields[0], len(ids)))
        ends.append((int(fields[1]), int(fields[2])))
    if not ids:
        raise fail(path, "no edges", _EDGE_EXPECTED)
    g = torch.tensor(gi)
    e = torch.tensor(ends)
    sizes = torch.zeros(len(ids), dtype=torch.long).scatter_reduce(0, g, e.max(1).values + 1, "amax")
    if (sizes > max_nodes).any():
        worst = int(sizes.argmax())
        raise _too_big(path, repr(list(ids)[worst]), int(sizes[worst]), max_nodes)
    adj = torch.zeros(len(ids), max_nodes, max_nodes, dtype=torch.bool)
    adj[g, e[:, 0], e[:, 1]] = True
    adj[g, e[:, 1], e[:, 0]] = True
    mask = torch.arange(max_nodes)[None] < sizes[:, None]
    return list(ids), adj, mask


def _read_labels(path: Path, graph_ids: list[str]) -> np.ndarray:
    """Labels of the graphs from 'graph_id label' lines, in the order of ``graph_ids``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise fail(path, "not a UTF-8 text file", "lines 'graph_id label'") from None
    found: dict[str, str] = {}
    for lineno, line in enumerate(lines, 1):
        fields = _split_fields(line)
        if not fields:
            continue
        if len(fields) != 2:
            raise fail(path, f"line {lineno}: got {line.strip()!r}", "lines 'graph_id label'")
        found[fields[0]] = fields[1]
    missing = [g for g in graph_ids if g not in found]
    if missing:
        raise fail(path, f"no label for graph {missing[0]!r} ({len(missing)} unlabelled)", "one label per graph")
    labels = [found[g] for g in graph_ids]
    if all(re.fullmatch(r"-?\d+", s) for s in labels):
        return np.array([int(s) for s in labels])
    return np.array(labels)


def build_graph_files(options: dict[str, Any]) -> Dataset:
    """The user's graphs from ``options['path']``: .npz, an edge list with an optional .labels file, or a TU folder."""
    path = Path(options["path"])
    v, f, seed = int(options["max_nodes"]), int(options["node_features"]), int(options["seed"])
    gen = torch.Generator().manual_seed(seed)
    raw_y: np.ndarray | None = None
    fmt = detect(path, "graph", str(options.get("format", AUTO)))
    prefix = tu_prefix(path) if fmt is Format.TU_FOLDER and path.is_dir() else None
    if fmt is Format.TU_FOLDER and prefix is None:
        raise fail(path, "is not a folder with a TU dataset (no *_A.txt)", TU_EXPECTED)
    if prefix is not None:
        x, adj, mask, raw_y = read_tu(path, prefix, v)
    elif fmt is Format.NPZ:
        x, adj, mask, raw_y = _read_npz(path, v)
    else:
        graph_ids, adj, mask = _read_edge_list(path, v)
        x = None
        labels = path.with_suffix(".labels")
        if labels.exists():
            raw_y = _read_labels(labels, graph_ids)
    adj = (adj | adj.mT) & ~torch.eye(v, dtype=torch.bool)     # undirected, no self loops
    x = node_features(mask, f, gen) if x is None else x * mask[..., None]
    limit = int(options["max_examples"]) or adj.shape[0]
    x, adj, mask = x[:limit], adj[:limit], mask[:limit]
    n = adj.shape[0]
    if n < 2:
        raise fail(path, f"{n} graph", "at least 2 graphs (one is held out)")
    y: torch.Tensor | None = None
    classes: tuple[str, ...] = ()
    if raw_y is not None:
        y, classes = encode_labels(raw_y[:limit], n, path, _NPZ_EXPECTED)
    info = {"max_nodes": v, "node_features": int(x.shape[2]), "num_classes": len(classes)}
    return split_labelled({"x": x, "adj": adj.float(), "mask": mask}, y, classes, info, seed=seed)
