"""Catalog declarations for the text modality: its datasets, augmentations and encoders."""

from __future__ import annotations

from sslterm.catalog import Entry, P, format_param

ENTRIES: tuple[Entry, ...] = (
    # ---- modalities -------------------------------------------------------------------
    Entry(
        "modality",
        "text",
        "Byte-level text as token ids [N, L]: id = byte + 2, with 0 = PAD (only at the end) and 1 = MASK.",
        extra={"default_augment": ("span_crop", "token_deletion", "span_masking")},
    ),
    # ---- datasets ---------------------------------------------------------------------
    Entry(
        "dataset",
        "topics",
        "Procedurally generated labelled text: each topic class has its own vocabulary of invented "
        "pseudo-words (from a shared syllable set) and its own word-to-word transitions, mixed with "
        "shared function words; the topic shows in both content and word order. Generated from a "
        "seed, nothing downloaded.",
        modalities=("text",),
        impl="sslterm.data.text:build_topics",
        params=(
            P("num_samples", int, 8192, "Sequences in the training split.", low=64, high=2_000_000),
            P("num_eval", int, 1024, "Labelled held-out sequences.", low=16, high=200_000),
            P("seq_len", int, 64, "Bytes per sequence (shorter sequences are padded at the end).",
              low=16, high=1024),
            P("num_topics", int, 8, "Topic classes.", low=2, high=64),
            P("seed", int, 1234, "Seed of the generator (fixed data across runs).", low=0),
        ),
    ),
    Entry(
        "dataset",
        "text_files",
        "Your own text. Unlabelled: a .txt or .jsonl file or a folder of them, Parquet files or a Hugging Face "
        "save_to_disk folder (a text column; a DatasetDict's train split), prepared once into a "
        "memory-mapped token stream (bytes, or a BPE trained on it: tokenizer) and trained on as random windows "
        "of seq_len tokens across line and document boundaries; held out are whole documents (files or "
        "records), 10% of them, or with fewer than 10 documents each one's last 10%. Labelled: class "
        "subfolders of .txt files (a line per example, long lines cut into seq_len-byte chunks) or an .npz "
        "with token ids x [N, L] ≥ 0 and labels y [N]; 10% held out. See docs/data-formats.md.",
        modalities=("text",),
        impl="sslterm.data.text:load_text_files",
        params=(
            P("path", str, "", "A .txt or .jsonl file, a folder of them, Parquet files (a file, a folder or a "
              "glob), a Hugging Face save_to_disk folder, or an .npz file."),
            format_param("text"),
            P("seq_len", int, 128, "Tokens per training window (a labelled line longer than this is cut into "
              "chunks of this size; labelled rows are padded to the longest, at most this).", low=4, high=8192),
            P("labels", str, "auto", "auto: a folder of class subfolders of .txt files is labelled text, a line per "
              "example; none: its subfolders only organise documents, read as unlabelled text.",
              choices=("auto", "none")),
            P("max_examples", int, 0, "Labelled data: read at most this many examples (0: all; of a labelled "
              "folder under a BPE: lines).", low=0),
            P("seed", int, 0, "Seed of the train/eval split.", low=0),
            P("text_field", str, "text", "The field holding each record's text in .jsonl files, or the text column "
              "of Parquet and Hugging Face data."),
            P("tokenizer", str, "bytes", "Text: bytes (258 ids), or bpe, a byte-level BPE of vocab_size tokens "
              "trained on the training documents (of a labelled folder: the training lines) when the text is "
              "prepared (needs the tokenizers package: pip install 'sslterm[data]'); an .npz's ids are read as "
              "they are. Held-out loss is also reported in bits per byte.",
              choices=("bytes", "bpe")),
            P("vocab_size", int, 8192, "BPE tokens (the 256 bytes and the merges learnt from the training "
              "text).", low=257, high=262144),
        ),
    ),
    # ---- encoders ---------------------------------------------------------------------
    Entry(
        "encoder",
        "transformer",
        "A byte-level transformer: token and learned position embeddings, pre-norm blocks, mean "
        "pooling over the real (non-PAD) tokens. A causal mode supports next-token prediction.",
        modalities=("text",),
        impl="sslterm.models.text:build_text_transformer",
        extra={"tokens": True, "causal": True},
        params=(
            P("dim", int, 64, "Token width.", low=8, high=4096),
            P("depth", int, 2, "Transformer blocks.", low=1, high=48),
            P("heads", int, 4, "Attention heads (must divide dim).", low=1, high=64),
        ),
    ),
    # ---- augmentations ----------------------------------------------------------------
    Entry(
        "augmentation",
        "span_crop",
        "Keep one random contiguous span of each sequence (min_fraction to all of it), moved to the start; "
        "two crops of one text share its topic but not all of its words.",
        modalities=("text",),
        impl="sslterm.augment.text:span_crop",
        extra={"targets": "view"},
        params=(P("min_fraction", float, 0.5, "Smallest share of a sequence's tokens a crop keeps.",
                  low=0.0, high=1.0, low_open=True),),
    ),
    Entry(
        "augmentation",
        "token_dropout",
        "Dropout noise: replace each token by MASK with probability p.",
        modalities=("text",),
        impl="sslterm.augment.text:token_dropout",
        params=(P("p", float, 0.1, "Probability of masking a token.", low=0.0, high=1.0),),
    ),
    Entry(
        "augmentation",
        "span_masking",
        "Replace random contiguous spans of each sequence by MASK.",
        modalities=("text",),
        impl="sslterm.augment.text:span_masking",
        params=(
            P("fraction", float, 0.15, "Fraction of each sequence's tokens covered by the spans together.",
              low=0.0, high=1.0),
            P("spans", int, 1, "Spans per sequence (they may overlap).", low=1, high=64),
        ),
    ),
    Entry(
        "augmentation",
        "token_deletion",
        "Delete each token with probability p; the rest shift left and the end is padded.",
        modalities=("text",),
        impl="sslterm.augment.text:token_deletion",
        extra={"targets": "skip"},
        params=(P("p", float, 0.1, "Probability of deleting a token.", low=0.0, high=1.0),),
    ),
    Entry(
        "augmentation",
        "token_substitution",
        "Replace each token with probability p by a token drawn at random from the whole batch.",
        modalities=("text",),
        impl="sslterm.augment.text:token_substitution",
        params=(P("p", float, 0.1, "Probability of substituting a token.", low=0.0, high=1.0),),
    ),
)
