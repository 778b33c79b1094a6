"""Catalog declarations for the graph modality: its datasets, augmentations and encoders."""

from __future__ import annotations

from sslterm.catalog import Entry, P, format_param

_MAX_NODES = P("max_nodes", int, 24, "Nodes every graph is padded to (V).", low=4, high=512)

ENTRIES: tuple[Entry, ...] = (
    # ---- modalities -------------------------------------------------------------------
    Entry("modality", "graph", "Small graphs padded to max_nodes V: node features x [N, V, F], "
          "adjacency adj [N, V, V] (symmetric, no self loops) and a real-node mask [N, V].",
          extra={"default_augment": ("edge_dropping", "node_feature_masking", "subgraph_sampling")}),
    # ---- datasets ---------------------------------------------------------------------
    Entry(
        "dataset",
        "graph_families",
        "Procedurally generated graphs of 10 families (cycle, path, star, grid, complete, binary "
        "tree, wheel, ladder, Erdős–Rényi, two communities) with random sizes, shuffled node "
        "labels and a few random edge flips; node features are a constant plus noise, so the "
        "family must be read from the structure. Labelled, generated from a seed.",
        modalities=("graph",),
        impl="sslterm.data.graph:build_graph_families",
        params=(
            P("num_samples", int, 4096, "Graphs in the training split.", low=64, high=2_000_000),
            P("num_eval", int, 512, "Labelled held-out graphs.", low=16, high=200_000),
            _MAX_NODES,
            P("min_nodes", int, 8, "Fewest real nodes in a graph (sizes are uniform in min..max).", low=4, high=512),
            P("node_features", int, 8, "Features per node F: a constant channel and F - 1 noise channels.",
              low=1, high=1024),
            P("edge_noise", float, 0.2, "Random edge flips per node: each pair of real nodes is toggled "
              "with probability edge_noise / (n - 1).", low=0.0, high=1.0),
            P("seed", int, 1234, "Seed of the generator (fixed data across runs).", low=0),
        ),
    ),
    Entry(
        "dataset",
        "graph_files",
        "Your own graphs: an .npz with adj [N, V, V] and optional x [N, V, F], mask [N, V], y [N]; "
        "or an edge list (.txt, .csv, .edges) of 'graph_id src dst' lines with an optional "
        "'<name>.labels' file of 'graph_id label' lines; or a TU benchmark folder (DS_A.txt, "
        "DS_graph_indicator.txt, optional DS_graph_labels.txt, DS_node_labels.txt one-hot encoded, "
        "DS_node_attributes.txt), as MUTAG, PROTEINS or NCI1 are distributed. Edges are made "
        "undirected; 10% of the graphs are held out.",
        modalities=("graph",),
        impl="sslterm.data.graph:build_graph_files",
        params=(
            P("path", str, "", "The .npz or edge-list file, or a TU dataset folder."),
            format_param("graph"),
            _MAX_NODES,
            P("max_examples", int, 0, "Read at most this many graphs (0: all).", low=0),
            P("node_features", int, 8, "Features per node for edge lists (a constant and noise).", low=1, high=1024),
            P("seed", int, 0, "Seed of the held-out split and of generated node features.", low=0),
        ),
    ),
    # ---- encoders ---------------------------------------------------------------------
    Entry(
        "encoder",
        "gnn",
        "Message passing on the dense adjacency (GIN sum aggregation or GCN normalised), then a "
        "masked mean or sum over the real nodes; tokens are nodes.",
        modalities=("graph",),
        impl="sslterm.models.gnn:build_gnn",
        extra={"tokens": True, "causal": False},
        params=(
            P("dim", int, 64, "Width of the node embeddings.", low=4, high=4096),
            P("layers", int, 3, "Message-passing layers (each reaches one hop further).", low=1, high=32),
            P("conv", str, "gin", "Aggregation: gin (sum, learnt self weight) or gcn (degree-normalised).",
              choices=("gin", "gcn")),
            P("readout", str, "mean", "Pooling over real nodes: mean, sum, or both concatenated.",
              choices=("mean", "sum", "both")),
        ),
    ),
    # ---- augmentations ----------------------------------------------------------------
    Entry(
        "augmentation",
        "edge_dropping",
        "Remove each edge of a graph with probability p (both directions).",
        modalities=("graph",),
        impl="sslterm.augment.graph:edge_dropping",
        extra={"batch": True},
        params=(P("p", float, 0.2, "Probability of dropping an edge.", low=0.0, high=1.0),),
    ),
    Entry(
        "augmentation",
        "node_feature_masking",
        "Zero random feature columns of a graph, or the features of random nodes.",
        modalities=("graph",),
        impl="sslterm.augment.graph:node_feature_masking",
        extra={"batch": True},
        params=(
            P("p", float, 0.2, "Probability of zeroing a column (or node).", low=0.0, high=1.0),
            P("along", str, "features", "What is zeroed: whole feature columns, or whole nodes.",
              choices=("features", "nodes")),
        ),
    ),
    Entry(
        "augmentation",
        "subgraph_sampling",
        "Keep a connected ball of nodes around a random seed node (breadth-first), drop the rest.",
        modalities=("graph",),
        impl="sslterm.augment.graph:subgraph_sampling",
        extra={"batch": True, "targets": "view"},
        params=(P("keep", float, 0.8, "Fraction of each graph's nodes kept.", low=0.0, high=1.0, low_open=True),),
    ),
)
