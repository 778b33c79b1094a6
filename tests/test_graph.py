"""The graph modality: generated families, the user's graph files, GraphCL augmentations, the GNN encoder."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sslterm import catalog
from sslterm.augment import Pipeline
from sslterm.augment import graph as aug
from sslterm.config import from_overrides
from sslterm.data import Dataset, build_dataset
from sslterm.data.graph import FAMILIES, family_adjacency, permute_nodes
from sslterm.models import build_encoder
from sslterm.models.gnn import GNNEncoder
from sslterm.objectives import Context, build_objective

V = 12


def families(num: int = 60, num_eval: int = 20, **changes: float) -> Dataset:
    opts = {**catalog.get("dataset", "graph_families").defaults(), "num_samples": num, "num_eval": num_eval,
            "max_nodes": V, "min_nodes": 5, **changes}
    return build_dataset("graph_families", opts)


def check_graph_batch(b: dict[str, torch.Tensor]) -> None:
    """Symmetric 0/1 adjacency without self loops; padding has no features and no edges."""
    adj, mask, x = b["adj"], b["mask"], b["x"]
    assert torch.equal(adj, adj.mT), "adjacency is symmetric"
    assert set(adj.unique().tolist()) <= {0.0, 1.0}
    assert adj.diagonal(dim1=1, dim2=2).abs().sum() == 0, "no self loops"
    pad = ~mask
    assert adj[pad.unsqueeze(2).expand_as(adj)].abs().sum() == 0, "padding rows are empty"
    assert adj[pad.unsqueeze(1).expand_as(adj)].abs().sum() == 0, "padding columns are empty"
    assert x[pad].abs().sum() == 0, "padding nodes have no features"


# ---- the generated dataset -------------------------------------------------------------------

def test_families_are_deterministic_shaped_padded_and_balanced() -> None:
    a, b = families(), families()
    assert torch.equal(a.train["adj"], b.train["adj"]) and torch.equal(a.train["x"], b.train["x"])
    assert not torch.equal(a.train["adj"], families(seed=99).train["adj"]), "the seed matters"
    assert a.train["x"].shape == (60, V, 8) and a.train["adj"].shape == (60, V, V)
    assert a.train["mask"].dtype == torch.bool and a.eval["x"].shape == (20, V, 8)
    for split in (a.train, a.eval):
        check_graph_batch(split)
    sizes = a.train["mask"].sum(1)
    assert sizes.min() >= 4 and sizes.max() <= V               # ladders round their size down to even
    assert torch.equal(a.train["x"][..., 0], a.train["mask"].float()), "channel 0 is the constant"
    assert torch.bincount(a.y_train, minlength=10).tolist() == [6] * 10, "families are balanced"
    assert a.classes == FAMILIES and a.info == {"max_nodes": V, "node_features": 8, "num_classes": 10}
    with pytest.raises(ValueError, match="min_nodes"):
        families(min_nodes=V + 1)


def test_family_structures_differ_and_nodes_are_relabelled() -> None:
    n = torch.tensor([8, 10, 12])
    edges = {f: family_adjacency(f, n, 16, torch.Generator().manual_seed(0))[0].sum((1, 2)) // 2 for f in FAMILIES}
    assert edges["cycle"].tolist() == [8, 10, 12] and edges["path"].tolist() == [7, 9, 11]
    assert edges["star"].tolist() == edges["binary_tree"].tolist() == [7, 9, 11]
    assert edges["complete"].tolist() == [28, 45, 66] and edges["wheel"].tolist() == [14, 18, 22]
    assert edges["ladder"].tolist() == [10, 13, 16]
    d = families(num=200, num_eval=20, edge_noise=0.0)
    deg, mask = d.train["adj"].sum(-1).long(), d.train["mask"]             # [N, V]
    hist = torch.stack([torch.bincount(deg[(d.y_train == c)[:, None] & mask], minlength=V) for c in range(10)])
    hist = hist.float() / hist.sum(1, keepdim=True)
    gaps = (hist[:, None] - hist[None]).abs().sum(-1) + torch.eye(10)
    assert gaps.min() > 0.1, "every pair of families has different degree histograms"
    stars = deg[d.y_train == FAMILIES.index("star")]
    assert (stars.argmax(1) == 0).float().mean() < 0.5, "node order is shuffled (the hub is not always node 0)"


# ---- augmentations -----------------------------------------------------------------------------

def graphs(n: int = 16) -> dict[str, torch.Tensor]:
    return families(num=max(n, 64)).batch("train", torch.arange(n))


STRONG = {"edge_dropping": {"p": 0.5}, "node_feature_masking": {"p": 0.5, "along": "nodes"},
          "subgraph_sampling": {"keep": 0.5}}


@pytest.mark.parametrize("name", list(STRONG))
def test_augmentation_keeps_graphs_valid_deterministic_and_random_per_sample(name: str) -> None:
    assert catalog.get("augmentation", name).extra.get("batch"), "declared batch-level"
    fn, params, b = getattr(aug, name), STRONG[name], graphs()
    out = fn(b, params, torch.Generator().manual_seed(3))
    assert all(out[k].shape == b[k].shape and out[k].dtype == b[k].dtype for k in b)
    check_graph_batch(out)
    assert not (out["mask"] & ~b["mask"]).any(), "no padding node becomes real"
    assert all(torch.equal(out[k], v) for k, v in fn(b, params, torch.Generator().manual_seed(3)).items())
    assert not all(torch.equal(out[k], v) for k, v in fn(b, params, torch.Generator().manual_seed(4)).items())
    same = {k: v[:1].expand_as(v).clone() for k, v in b.items()}  # one graph, 16 times
    views = fn(same, params, torch.Generator().manual_seed(5))
    differ = [not all(torch.equal(views[k][i], views[k][0]) for k in views) for i in range(1, 16)]
    assert sum(differ) >= 8, "each graph draws its own choices"


def test_augmentations_are_identity_at_zero_strength() -> None:
    b, g = graphs(), torch.Generator().manual_seed(0)
    for name, params in [("edge_dropping", {"p": 0.0}), ("node_feature_masking", {"p": 0.0, "along": "features"}),
                         ("node_feature_masking", {"p": 0.0, "along": "nodes"}), ("subgraph_sampling", {"keep": 1.0})]:
        out = getattr(aug, name)(b, params, g)
        assert all(torch.equal(out[k], b[k]) for k in b), name


def test_edge_dropping_only_removes_edges() -> None:
    b, g = graphs(32), torch.Generator().manual_seed(1)
    out = aug.edge_dropping(b, {"p": 0.5}, g)
    assert (out["adj"] <= b["adj"]).all() and torch.equal(out["x"], b["x"]) and torch.equal(out["mask"], b["mask"])
    kept = out["adj"].sum() / b["adj"].sum()
    assert 0.35 < kept < 0.65
    assert aug.edge_dropping(b, {"p": 1.0}, g)["adj"].sum() == 0


def test_feature_masking_zeroes_whole_columns_or_nodes() -> None:
    b, g = graphs(), torch.Generator().manual_seed(2)
    cols = aug.node_feature_masking(b, {"p": 0.5, "along": "features"}, g)["x"]
    zero_cols = (cols == 0).all(dim=1)                                         # [B, F]
    assert torch.equal(cols, b["x"] * (~zero_cols)[:, None, :]) and zero_cols.any()
    rows = aug.node_feature_masking(b, {"p": 0.5, "along": "nodes"}, g)["x"]
    zero_rows = (rows == 0).all(dim=2) & b["mask"]
    assert torch.equal(rows, b["x"] * (~zero_rows)[..., None]) and zero_rows.any()


def test_subgraph_sampling_keeps_a_connected_ball_of_the_right_size() -> None:
    n = torch.tensor([10, 7, 12, 9])
    adj, _ = family_adjacency("path", n, V, torch.Generator().manual_seed(0))
    perm = torch.rand(4, V, generator=torch.Generator().manual_seed(1)).masked_fill(torch.arange(V) >= n[:, None], 2)
    adj = permute_nodes(adj, perm.argsort(1)).float()
    mask = torch.arange(V) < n[:, None]
    b = {"x": mask[..., None].float().expand(4, V, 3).clone(), "adj": adj, "mask": mask}
    out = aug.subgraph_sampling(b, {"keep": 0.5}, torch.Generator().manual_seed(2))
    assert out["mask"].sum(1).tolist() == [math.ceil(0.5 * k) for k in n.tolist()]
    kept_edges = out["adj"].sum((1, 2)) / 2
    assert torch.equal(kept_edges, out["mask"].sum(1).float() - 1), "a connected piece of a path is a path"
    assert out["x"][~out["mask"]].abs().sum() == 0


# ---- the encoder -------------------------------------------------------------------------------

def encoder(**changes: object) -> GNNEncoder:
    opts = {**catalog.get("encoder", "gnn").defaults(), "dim": 16, "layers": 2, **changes}
    enc = build_encoder("gnn", {"node_features": 8, "max_nodes": V}, opts)
    assert isinstance(enc, GNNEncoder)
    return enc.eval()


@pytest.mark.parametrize("conv,readout", [("gin", "mean"), ("gcn", "both"), ("gin", "sum")])
def test_gnn_is_invariant_to_node_order_and_padding(conv: str, readout: str) -> None:
    enc, b = encoder(conv=conv, readout=readout), graphs(8)
    out = enc(**b)
    assert out.shape == (8, enc.out_dim) and enc.out_dim == (32 if readout == "both" else 16)
    perm = torch.rand(8, V, generator=torch.Generator().manual_seed(0)).argsort(1)   # padding moves too
    shuffled = {"x": b["x"].gather(1, perm[..., None].expand(-1, -1, 8)), "adj": permute_nodes(b["adj"], perm),
                "mask": b["mask"].gather(1, perm)}
    assert torch.allclose(enc(**shuffled), out, atol=1e-5), "relabelling nodes changes nothing"
    tokens = enc.tokens(b["x"], adj=b["adj"], mask=b["mask"])
    assert torch.allclose(enc.tokens(**shuffled), tokens.gather(1, perm[..., None].expand(-1, -1, 16)), atol=1e-5)
    pad = 5
    padded = {"x": torch.nn.functional.pad(b["x"], (0, 0, 0, pad)),
              "adj": torch.nn.functional.pad(b["adj"], (0, pad, 0, pad)),
              "mask": torch.nn.functional.pad(b["mask"], (0, pad))}
    padded["x"][~padded["mask"]] = 3.0                         # junk in the padding must not matter
    padded["adj"][:, :, -1] = padded["adj"][:, -1, :] = 1.0
    assert torch.allclose(enc(**padded), out, atol=1e-5), "more padding changes nothing"


def test_gnn_token_contract() -> None:
    enc, b = encoder(), graphs(6)
    x, rest = b["x"], {"adj": b["adj"], "mask": b["mask"]}
    h = enc.tokens(x, **rest)
    assert h.shape == (6, V, 16) and h[~b["mask"]].abs().sum() == 0 and enc.token_grid == (V,)
    assert torch.equal(enc.valid_tokens(x, **rest), b["mask"])
    targets = enc.token_targets(x, **rest)
    assert targets.shape == (6, V, 9) and enc.target_dim == 9
    assert torch.equal(targets[..., :8], x)
    assert torch.allclose(targets[..., 8], torch.log1p(b["adj"].sum(-1)))
    hidden = torch.zeros(6, V, dtype=torch.bool)
    hidden[:, :2] = True
    seen = enc.hide(x, hidden, **rest)
    assert seen[:, :2].abs().sum() == 0 and torch.equal(seen[:, 2:], x[:, 2:])
    assert not torch.allclose(enc.tokens(seen, **rest)[:, 2:], h[:, 2:]), "neighbours notice a hidden node"
    with pytest.raises(NotImplementedError, match="causal"):
        enc.tokens(x, causal=True, **rest)
    with pytest.raises(ValueError, match="adj"):
        enc(x)
    with pytest.raises(ValueError, match="readout"):
        GNNEncoder(8, V, readout="max")
    with pytest.raises(ValueError, match="conv"):
        GNNEncoder(8, V, conv="gat")


def test_objectives_train_a_step_on_graphs() -> None:
    d = families()
    enc = build_encoder("gnn", d.info, {**catalog.get("encoder", "gnn").defaults(), "dim": 16, "layers": 2})
    pipe = Pipeline({"edge_dropping": {"p": 0.2}, "node_feature_masking": {"p": 0.2, "along": "features"},
                     "subgraph_sampling": {"keep": 0.8}})
    batch = d.batch("train", torch.arange(16))
    for name in [n for n in ("infonce", "masked") if "graph" in catalog.get("objective", n).modalities]:
        obj = build_objective(name, Context(enc, d.info, 32, 8), catalog.get("objective", name).defaults())
        loss, _ = obj(batch, pipe, torch.Generator().manual_seed(0))
        loss.backward()
        assert torch.isfinite(loss) and enc.embed.weight.grad is not None, name
        enc.zero_grad()


# ---- the user's files ----------------------------------------------------------------------------

def files(path: Path, **changes: object) -> Dataset:
    opts = {**catalog.get("dataset", "graph_files").defaults(), "path": str(path), "max_nodes": V, **changes}
    return build_dataset("graph_files", opts)


def test_npz_round_trip_with_labels(tmp_path: Path) -> None:
    n, v = 20, 10
    src = families(num=64, max_nodes=v, min_nodes=4)
    x, adj, mask = src.train["x"][:n].clone(), src.train["adj"][:n].clone(), src.train["mask"][:n]
    x[..., 1] = torch.arange(n, dtype=torch.float32)[:, None] * mask           # a marker: which graph
    adj[0, 0, 1], adj[0, 1, 0] = 1.0, 0.0                                        # a directed edge
    np.savez(tmp_path / "g.npz", x=x.numpy(), adj=adj.numpy(), mask=mask.numpy(), y=np.arange(n) % 3 + 5)
    d = files(tmp_path / "g.npz")
    assert d.size("eval") == 2 and d.size("train") == 18 and d.classes == ("5", "6", "7")
    assert d.info == {"max_nodes": V, "node_features": 8, "num_classes": 3}
    for split, y in (("train", d.y_train), ("eval", d.y_eval)):
        b = getattr(d, split)
        check_graph_batch(b)
        ids = b["x"][:, 0, 1].long()
        assert torch.equal(y, ids % 3) and torch.equal(b["mask"][:, :v], mask[ids])
        assert torch.equal(b["adj"][:, :v, :v], ((adj + adj.mT) > 0).float()[ids])
    assert files(tmp_path / "g.npz", max_examples=10).size("train") == 9
    np.savez(tmp_path / "bare.npz", adj=adj.numpy())
    bare = files(tmp_path / "bare.npz")
    assert bare.y_train is None and bare.info["num_classes"] == 0 and bare.train["mask"][:, :v].all()


def test_edge_list_round_trip_with_labels(tmp_path: Path) -> None:
    (tmp_path / "g.csv").write_text("graph,src,dst\n# a triangle\nA,0,1\nA,1,2\nA 2 0\n\nB,0,3  # a path\nB,3,1\n"
                                    "C,4,4\nC,0,1\n")
    (tmp_path / "g.labels").write_text("A ring\nB line\nC line\n")
    d = files(tmp_path / "g.csv", node_features=4)
    assert d.size("train") + d.size("eval") == 3 and d.classes == ("line", "ring")
    both = {k: torch.cat([d.train[k], d.eval[k]]) for k in d.train}
    check_graph_batch(both)
    y = torch.cat([d.y_train, d.y_eval])
    sizes = both["mask"].sum(1)
    edges = both["adj"].sum((1, 2)) / 2
    got = sorted(zip(sizes.tolist(), edges.tolist(), y.tolist(), strict=True))
    assert got == [(3, 3.0, 1), (4, 2.0, 0), (5, 1.0, 0)], "triangle, path with an isolated node, self loop dropped"
    assert both["x"].shape == (3, V, 4) and torch.equal(both["x"][..., 0], both["mask"].float())
    (tmp_path / "plain.edges").write_text("0 0 1\n1 0 1\n")
    assert files(tmp_path / "plain.edges").y_train is None


@pytest.mark.parametrize("name,text,match", [
    ("big.txt", "g1 0 1\ng2 0 30\n", r"graph 'g2' has 31 nodes, more than max_nodes = 12"),
    ("bad.txt", "g1 0 1\ng1 0\n", r"line 2: got 'g1 0'; expected lines 'graph_id src dst'"),
    ("neg.txt", "g1 0 -1\n", r"line 1"),
    ("one.txt", "g1 0 1\n", r"1 graph; expected at least 2"),
    ("g.json", "{}", r"found a \.json file; graph reads tu_folder, edge_list or npz"),
])
def test_bad_files_are_one_line_errors(tmp_path: Path, name: str, text: str, match: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        files(tmp_path / name)
    assert str(tmp_path / name) in str(err.value) and "\n" not in str(err.value)


def test_bad_npz_and_labels_are_one_line_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 4, 2)))
    with pytest.raises(ValueError, match="no array 'adj'"):
        files(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", adj=np.ones((3, 20, 20)))
    with pytest.raises(ValueError, match="graph 0 has 20 nodes, more than max_nodes = 12"):
        files(tmp_path / "b.npz")
    (tmp_path / "c.txt").write_text("a 0 1\nb 1 2\n")
    (tmp_path / "c.labels").write_text("a 1\n")
    with pytest.raises(ValueError, match="no label for graph 'b'"):
        files(tmp_path / "c.txt")


def test_config_accepts_graph_experiments(tmp_path: Path) -> None:
    exp = from_overrides(["data.modality=graph", "model.encoder=gnn"])
    assert exp.data.dataset == "graph_families" and exp.model.options["conv"] == "gin"
    np.savez(tmp_path / "g.npz", adj=np.zeros((4, 5, 5)))
    own = from_overrides(["data.modality=graph", f"data.path={tmp_path / 'g.npz'}", "augment.edge_dropping.p=0.3",
                          "augment.subgraph_sampling.keep=0.6"])
    assert own.data.dataset == "graph_files" and own.augment["subgraph_sampling"] == {"keep": 0.6}
    with pytest.raises(ValueError, match="does not apply to graph"):
        from_overrides(["data.modality=graph", "augment.horizontal_flip.p=0.5"])
