"""The TU graph benchmark format: a tiny MUTAG-like folder made here, read into padded graphs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sslterm import catalog, config
from sslterm.data import Dataset, build_dataset

# Graph 1: a triangle of nodes 1-3; graph 2: a path 4-5-6-7; graph 3: an edge 8-9. Both directions listed.
EDGES = [(1, 2), (2, 3), (3, 1), (4, 5), (5, 6), (6, 7), (8, 9)]


def write_tu(root: Path, copies: int = 4, attributes: bool = True) -> None:
    """``copies`` repetitions of the three graphs above as a TU folder ``root/DS_*.txt`` (labels -1, 1, 1)."""
    root.mkdir(parents=True, exist_ok=True)
    edges, indicator, labels, node_labels, attrs = [], [], [], [], []
    for c in range(copies):
        base, g = 9 * c, 3 * c
        edges += [f"{base + a}, {base + b}\n{base + b}, {base + a}" for a, b in EDGES]
        indicator += [g + 1] * 3 + [g + 2] * 4 + [g + 3] * 2
        labels += [-1, 1, 1]
        node_labels += [7, 7, 7, 3, 3, 3, 3, 5, 5]
        attrs += [f"{float(i)}, {c + 0.5}" for i in range(9)]
    (root / "DS_A.txt").write_text("\n".join(edges) + "\n")
    (root / "DS_graph_indicator.txt").write_text("\n".join(map(str, indicator)) + "\n")
    (root / "DS_graph_labels.txt").write_text("\n".join(map(str, labels)) + "\n")
    (root / "DS_node_labels.txt").write_text("\n".join(map(str, node_labels)) + "\n")
    if attributes:
        (root / "DS_node_attributes.txt").write_text("\n".join(attrs) + "\n")


def load(path: Path, **changes: object) -> Dataset:
    opts = {**catalog.get("dataset", "graph_files").defaults(), "path": str(path), "max_nodes": 6, **changes}
    return build_dataset("graph_files", opts)


def test_tu_folder_reads_graphs_labels_and_node_features(tmp_path: Path) -> None:
    write_tu(tmp_path / "tu")
    d = load(tmp_path / "tu")
    assert d.classes == ("-1", "1") and d.size("train") + d.size("eval") == 12 and d.size("eval") == 1
    assert d.info == {"max_nodes": 6, "node_features": 3 + 2, "num_classes": 2}
    both = {k: torch.cat([d.train[k], d.eval[k]]) for k in d.train}
    assert d.y_train is not None and d.y_eval is not None
    y = torch.cat([d.y_train, d.y_eval])
    sizes, edges = both["mask"].sum(1), both["adj"].sum((1, 2)) / 2
    assert sorted(zip(sizes.tolist(), edges.tolist(), y.tolist(), strict=True)) == (
        [(2, 1.0, 1)] * 4 + [(3, 3.0, 0)] * 4 + [(4, 3.0, 1)] * 4), "triangles are class -1, paths and edges 1"
    assert torch.equal(both["adj"], both["adj"].mT) and not both["adj"].diagonal(dim1=1, dim2=2).any()
    one_hot = both["x"][..., :3]
    assert torch.equal(one_hot.sum(-1), both["mask"].float()), "one-hot node labels on real nodes only"
    triangles = both["x"][sizes == 3]
    assert (triangles[:, :3, 2] == 1).all(), "node label 7 is the third of (3, 5, 7)"
    assert sorted(triangles[:, 0, 4].tolist()) == [0.5, 1.5, 2.5, 3.5], "attributes follow their nodes"


def test_tu_without_attributes_and_config(tmp_path: Path) -> None:
    write_tu(tmp_path / "tu", attributes=False)
    assert load(tmp_path / "tu").info["node_features"] == 3
    exp = config.from_overrides(["data.modality=graph", f"data.path={tmp_path / 'tu'}", "data.max_nodes=6"])
    assert exp.data.dataset == "graph_files"


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: (r / "DS_A.txt").write_text("1, 2\n2, 99\n"), r"DS_A\.txt: edges must be 2 node ids in 1\.\.36"),
    (lambda r: (r / "DS_A.txt").write_text("1, 2\n3, 4\n"), "an edge joins two graphs"),
    (lambda r: (r / "DS_graph_labels.txt").write_text("1\n2\n"), "2 labels for 12 graphs"),
    (lambda r: (r / "DS_graph_indicator.txt").write_text("1\nx\n"), "not a file of numbers"),
    (lambda r: (r / "DS_node_attributes.txt").write_text("1, nan\n"), "rows for 36 nodes"),
    (lambda r: (r / "EXTRA_A.txt").write_text(""), r"2 \*_A\.txt files"),
])
def test_bad_tu_folders_are_one_line(tmp_path: Path, change: object, message: str) -> None:
    write_tu(tmp_path / "tu")
    change(tmp_path / "tu")  # type: ignore[operator]
    with pytest.raises(ValueError, match=message) as err:
        load(tmp_path / "tu")
    assert "\n" not in str(err.value) and "expected" in str(err.value)


def test_graph_too_big_and_empty_folder(tmp_path: Path) -> None:
    write_tu(tmp_path / "tu")
    with pytest.raises(ValueError, match="graph 2 has 4 nodes, more than max_nodes = 3"):
        load(tmp_path / "tu", max_nodes=3)
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match=r"found a folder without a \*_A\.txt file; graph reads tu_folder, edge_list"):
        load(tmp_path / "none")
