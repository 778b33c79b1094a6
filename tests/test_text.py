"""Tests of the text modality: the topics corpus, text_files, augmentations, the transformer, config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sslterm import config
from sslterm.augment import text as aug
from sslterm.data import text as data
from sslterm.models.text import TextTransformer, build_text_transformer
from sslterm.objectives import Context
from sslterm.objectives.temporal_order import (
    TemporalOrder,
    inverse_order,
    permutation_table,
    permute_segments,
    permute_words,
)

torch.set_num_threads(1)

TOPICS = {"num_samples": 512, "num_eval": 128, "seq_len": 64, "num_topics": 8, "seed": 7}
FILES = {"seq_len": 32, "max_examples": 0, "seed": 0}


@pytest.fixture(scope="module")
def topics() -> data.Dataset:
    return data.build_topics(TOPICS)


def pad_is_suffix(x: torch.Tensor) -> bool:
    """True when every row is real tokens followed only by PAD."""
    real = (x != data.PAD).long()
    return bool((real[:, 1:] <= real[:, :-1]).all())


# ---- the topics corpus ------------------------------------------------------------------

def test_topics_deterministic_for_a_seed(topics: data.Dataset) -> None:
    again = data.build_topics(TOPICS)
    assert topics.y_eval is not None and again.y_eval is not None
    assert torch.equal(topics.train["x"], again.train["x"]) and torch.equal(topics.y_eval, again.y_eval)
    other = data.build_topics({**TOPICS, "seed": 8})
    assert not torch.equal(topics.train["x"], other.train["x"])


def test_topics_shapes_and_info(topics: data.Dataset) -> None:
    assert topics.train["x"].shape == (512, 64) and topics.eval["x"].shape == (128, 64)
    assert topics.train["x"].dtype == torch.int64
    assert topics.info == {"vocab_size": 258, "seq_len": 64, "num_classes": 8}
    assert len(topics.classes) == 8 and len(set(topics.classes)) == 8
    assert not torch.equal(topics.train["x"][:128], topics.eval["x"])


def test_topics_labels_balanced(topics: data.Dataset) -> None:
    assert topics.y_train is not None and topics.y_eval is not None
    assert torch.bincount(topics.y_train, minlength=8).tolist() == [64] * 8
    assert torch.bincount(topics.y_eval, minlength=8).tolist() == [16] * 8


def test_topics_ids_in_range_pad_only_at_the_end(topics: data.Dataset) -> None:
    x = topics.train["x"]
    assert ((x == data.PAD) | ((x >= 2) & (x < 258))).all()          # no MASK, valid bytes
    assert pad_is_suffix(x)
    length = (x != data.PAD).sum(1)
    assert (length >= 64 // 2 - 8).all() and (length <= 64).all()
    assert (length < 64).any()                                         # some rows are padded
    text = data.to_text(x[:50])
    assert all(t == t.strip() and "  " not in t and t.replace(" ", "").isalpha() for t in text)


def test_topics_signal_is_in_order_not_byte_counts() -> None:
    """Nearest-centroid on byte bigrams finds the topic; on byte counts it is near chance."""
    ds = data.build_topics({**TOPICS, "num_samples": 1024, "num_eval": 256})
    y_train, y_eval = ds.y_train, ds.y_eval
    assert y_train is not None and y_eval is not None

    def counts(v: torch.Tensor, size: int) -> torch.Tensor:
        return torch.zeros(len(v), size).scatter_add_(1, v, torch.ones_like(v, dtype=torch.float))

    def accuracy(f: torch.Tensor) -> float:
        f = torch.nn.functional.normalize(f, dim=1)
        tr, ev = f[:1024], f[1024:]
        centroids = torch.stack([tr[y_train == k].mean(0) for k in range(8)])
        return float(((ev @ centroids.T).argmax(1) == y_eval).float().mean())

    x = torch.cat([ds.train["x"], ds.eval["x"]])
    bigram = torch.unique(x[:, :-1] * 258 + x[:, 1:], return_inverse=True)[1]
    by_bytes, by_bigrams = accuracy(counts(x, 258)), accuracy(counts(bigram, int(bigram.max()) + 1))
    assert by_bytes < 0.3 and by_bigrams > by_bytes + 0.25


def test_topics_many_topics_and_long_sequences() -> None:
    ds = data.build_topics({"num_samples": 64, "num_eval": 16, "seq_len": 1024, "num_topics": 64, "seed": 0})
    assert ds.train["x"].shape == (64, 1024) and pad_is_suffix(ds.train["x"])
    assert ds.y_train is not None and int(ds.y_train.max()) < 64


# ---- augmentations ----------------------------------------------------------------------

AUGS: list[tuple[Any, dict[str, Any], dict[str, Any]]] = [
    (aug.token_dropout, {"p": 0.3}, {"p": 0.0}),
    (aug.span_masking, {"fraction": 0.3, "spans": 2}, {"fraction": 0.0, "spans": 2}),
    (aug.token_deletion, {"p": 0.3}, {"p": 0.0}),
    (aug.token_substitution, {"p": 0.3}, {"p": 0.0}),
    (aug.span_crop, {"min_fraction": 0.3}, {"min_fraction": 1.0}),
]
IDS = [a[0].__name__ for a in AUGS]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("fn", "params", "zero"), AUGS, ids=IDS)
def test_augmentation_keeps_shape_and_pad(fn: Any, params: dict[str, Any], zero: dict[str, Any],
                                          topics: data.Dataset) -> None:
    x = topics.train["x"][:32]
    y = fn(x, params, gen())
    assert y.shape == x.shape and y.dtype == x.dtype
    assert (y[x == data.PAD] == data.PAD).all()
    assert pad_is_suffix(y) and (y != data.PAD).any(1).all()
    assert not torch.equal(y, x)


@pytest.mark.parametrize(("fn", "params", "zero"), AUGS, ids=IDS)
def test_augmentation_per_sample_and_deterministic(fn: Any, params: dict[str, Any], zero: dict[str, Any],
                                                   topics: data.Dataset) -> None:
    x = topics.train["x"][:1].repeat(16, 1)                            # 16 copies of one row
    y = fn(x, params, gen(3))
    assert len(torch.unique(y, dim=0)) > 1                             # each row drew its own noise
    assert torch.equal(y, fn(x, params, gen(3)))
    assert not torch.equal(y, fn(x, params, gen(4)))


@pytest.mark.parametrize(("fn", "params", "zero"), AUGS, ids=IDS)
def test_augmentation_identity_at_zero(fn: Any, params: dict[str, Any], zero: dict[str, Any],
                                       topics: data.Dataset) -> None:
    x = topics.train["x"][:32]
    assert torch.equal(fn(x, zero, gen()), x)


def test_dropout_and_spans_only_write_mask(topics: data.Dataset) -> None:
    x = topics.train["x"][:32]
    for fn, params, _ in AUGS[:2]:
        y = fn(x, params, gen())
        assert (y[y != x] == data.MASK).all()


def test_span_masking_masks_one_contiguous_span_of_the_asked_size(topics: data.Dataset) -> None:
    x = topics.train["x"][:32]
    y = aug.span_masking(x, {"fraction": 0.25, "spans": 1}, gen())
    hidden = (y == data.MASK).long()
    length = (x != data.PAD).sum(1)
    assert torch.equal(hidden.sum(1), (length * 0.25).round().long())
    starts = (hidden[:, 1:] > hidden[:, :-1]).sum(1) + hidden[:, 0]
    assert (starts == 1).all()                                         # one run per row


def test_deletion_keeps_the_order_of_kept_tokens(topics: data.Dataset) -> None:
    x = topics.train["x"][:32]
    y = aug.token_deletion(x, {"p": 0.4}, gen())
    for row_x, row_y in zip(x.tolist(), y.tolist(), strict=True):   # test code: a loop is fine
        kept = [t for t in row_y if t != data.PAD]
        it = iter(t for t in row_x if t != data.PAD)
        assert all(any(t == s for s in it) for t in kept)                # a subsequence, in order
        assert 0 < len(kept) < sum(t != data.PAD for t in row_x)


def test_deletion_never_empties_a_row() -> None:
    x = torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]])
    assert torch.equal(aug.token_deletion(x, {"p": 1.0}, gen()), torch.tensor([[5, 0, 0, 0], [7, 0, 0, 0]]))


def test_span_crop_keeps_one_contiguous_piece(topics: data.Dataset) -> None:
    x = topics.train["x"][:32]
    y = aug.span_crop(x, {"min_fraction": 0.5}, gen())
    n_x, n_y = (x != data.PAD).sum(1), (y != data.PAD).sum(1)
    assert ((n_y >= (n_x * 0.5).round()) & (n_y <= n_x)).all() and (n_y < n_x).any()
    for row_x, row_y, k in zip(x.tolist(), y.tolist(), n_y.tolist(), strict=True):
        piece = row_y[:k]
        assert any(row_x[s:s + k] == piece for s in range(len(row_x) - k + 1))


def test_substitution_draws_tokens_from_the_batch() -> None:
    x = torch.tensor([[10, 11, 12, 0], [20, 21, 0, 0]])
    y = aug.token_substitution(x, {"p": 1.0}, gen())
    assert set(y[x != 0].tolist()) <= {10, 11, 12, 20, 21}
    assert (y[x == 0] == 0).all()


# ---- the transformer encoder ------------------------------------------------------------

OPTS = {"dim": 32, "depth": 2, "heads": 4}


@pytest.fixture(scope="module")
def encoder() -> TextTransformer:
    torch.manual_seed(0)
    return build_text_transformer({"vocab_size": 258, "seq_len": 64}, OPTS).eval()


def test_encoder_shapes_and_token_contract(encoder: TextTransformer, topics: data.Dataset) -> None:
    x = topics.train["x"][:4]
    assert encoder(x).shape == (4, 32)
    assert encoder.tokens(x).shape == (4, 64, 32) and encoder.tokens(x, causal=True).shape == (4, 64, 32)
    assert encoder.token_grid == (64,) and encoder.target_vocab == 258 and encoder.token_dim == 32
    assert torch.equal(encoder.token_targets(x), x)
    assert torch.equal(encoder.valid_tokens(x), x != data.PAD)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, :3] = True
    mask[:, -1] = True                                                 # a PAD position in padded rows
    hidden = encoder.hide(x, mask)
    assert (hidden[:, :3] == data.MASK).all() and torch.equal(hidden[:, 3:-1], x[:, 3:-1])
    assert torch.equal(hidden[:, -1] == data.PAD, x[:, -1] == data.PAD)


def test_causal_tokens_never_see_the_future(encoder: TextTransformer) -> None:
    x = torch.randint(2, 258, (2, 40), generator=gen())
    changed = x.clone()
    changed[:, 20:] = torch.randint(2, 258, (2, 20), generator=gen(1))
    with torch.no_grad():
        a, b = encoder.tokens(x, causal=True), encoder.tokens(changed, causal=True)
        full_a, full_b = encoder.tokens(x), encoder.tokens(changed)
    assert torch.allclose(a[:, :20], b[:, :20], atol=1e-5)
    assert not torch.allclose(a[:, 20:], b[:, 20:], atol=1e-3)
    assert not torch.allclose(full_a[:, :20], full_b[:, :20], atol=1e-3)  # bidirectional does see it


def test_padding_does_not_change_features(encoder: TextTransformer) -> None:
    x = torch.randint(2, 258, (3, 24), generator=gen())
    x[1, 15:] = data.PAD
    longer = torch.cat([x, torch.zeros(3, 16, dtype=torch.long)], dim=1)
    with torch.no_grad():
        assert torch.allclose(encoder(x), encoder(longer), atol=1e-5)
        real = x != data.PAD
        assert torch.allclose(encoder.tokens(x)[real], encoder.tokens(longer)[:, :24][real], atol=1e-5)
        assert torch.allclose(encoder.tokens(x, causal=True)[real],
                              encoder.tokens(longer, causal=True)[:, :24][real], atol=1e-5)


def test_all_pad_row_is_finite(encoder: TextTransformer) -> None:
    x = torch.zeros(2, 16, dtype=torch.long)
    x[0, :4] = 9
    with torch.no_grad():
        assert torch.isfinite(encoder(x)).all() and torch.isfinite(encoder.tokens(x, causal=True)).all()


def test_encoder_checks_its_arguments(encoder: TextTransformer) -> None:
    with pytest.raises(ValueError, match="divisible"):
        TextTransformer(258, 64, dim=30, heads=4)
    with pytest.raises(ValueError, match="longer"):
        encoder(torch.full((1, 65), 5))


def test_encoder_trains(topics: data.Dataset) -> None:
    torch.manual_seed(0)
    enc = TextTransformer(258, 64, dim=32, depth=1, heads=2)
    head = torch.nn.Linear(32, 258)
    x = topics.train["x"][:64]
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=3e-3)
    losses = []
    for _ in range(30):                                                # next-byte prediction
        logits = head(enc.tokens(x, causal=True)[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten(), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]



# ---- temporal order on padded rows --------------------------------------------------------

def test_temporal_order_cuts_each_row_over_its_real_length() -> None:
    table = permutation_table(3)
    x = torch.full((6, 12), data.PAD)
    x[:, :6] = torch.arange(10, 16)                                    # 6 real tokens, then 6 PAD
    lengths = (x != data.PAD).sum(dim=1)
    shuffled = permute_segments(x, table, lengths)                     # every permutation once
    for b, order in enumerate(table.tolist()):
        assert shuffled[b, :6].tolist() == [10 + 2 * i + j for i in order for j in range(2)]
    assert (shuffled[:, 6:] == data.PAD).all(), "the padding stays at the end whatever the order"
    assert torch.equal(permute_segments(shuffled, inverse_order(table), lengths), x)
    assert not (permute_segments(x, table)[1:, 6:] == data.PAD).all(), "cut over the padded length"


def test_temporal_order_objective_leaves_the_padding_in_place() -> None:
    torch.manual_seed(0)
    encoder = build_text_transformer({"vocab_size": 258, "seq_len": 24}, OPTS)
    objective = TemporalOrder(Context(encoder), segments=3)
    x = torch.randint(2, 258, (32, 24), generator=gen())
    for b in range(32):
        x[b, 6 + b % 12:] = data.PAD                                   # real lengths 6 to 17
    seen: list[torch.Tensor] = []
    encoder.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    objective({"x": x}, lambda batch, g: batch, gen(1))
    assert torch.equal(seen[0] == data.PAD, x == data.PAD)
    assert not torch.equal(seen[0], x) and torch.equal(seen[0].sort(dim=1).values, x.sort(dim=1).values)


def test_word_cuts_reorder_whole_words_and_keep_the_padding() -> None:
    rows = [b"alpha beta gamma delta eps", b"one two three", b"ab cd", b"twelve bytes"]
    x = torch.full((len(rows), 26), data.PAD)
    for r, text in enumerate(rows):
        x[r, : len(text)] = data.to_ids(text)
    lengths = (x != data.PAD).sum(dim=1)
    table = permutation_table(3)
    for order in table:
        out = permute_words(x, order.expand(len(rows), -1), lengths, data.SPACE)
        assert torch.equal(out == data.PAD, x == data.PAD), "the padding stays at the end"
        for before, after in zip(data.to_text(x), data.to_text(out), strict=True):
            assert sorted(after.split(" ")) == sorted(before.split(" ")), (before, after)   # whole words, one space
    assert torch.equal(permute_words(x, table[[0] * 4], lengths, data.SPACE), x)
    reversed_ = permute_words(x, table[[5] * 4], lengths, data.SPACE)
    assert data.to_text(reversed_)[:2] == ["delta eps gamma alpha beta", "three two one"]
    full = data.to_ids(b"ab cd ef").unsqueeze(0)                       # a row with no padding at all
    assert data.to_text(permute_words(full, table[[5]], torch.tensor([8]), data.SPACE)) == ["ef cd ab"]


def test_word_cuts_need_byte_text() -> None:
    encoder = build_text_transformer({"vocab_size": 258, "seq_len": 24}, OPTS)
    objective = TemporalOrder(Context(encoder, {"vocab_size": 258}), cut="words")
    loss, metrics = objective({"x": data.to_ids(b"one two three four").expand(4, -1)}, lambda batch, g: batch, gen())
    assert torch.isfinite(loss) and metrics["order_acc"].numel() == 1
    with pytest.raises(ValueError, match="cut = 'words'"):
        TemporalOrder(Context(encoder, {"vocab_size": 8194}), cut="words")


# ---- your own files ---------------------------------------------------------------------

def load(path: Path, **kw: Any) -> data.Dataset:
    return data.load_text_files({**FILES, "path": str(path), **kw})


def test_txt_file_is_a_token_stream(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("".join(f"line number {i}\n" for i in range(30)))
    ds = load(f)
    assert ds.window == 32 and ds.y_train is None and ds.info["num_classes"] == 0 and ds.info["vocab_size"] == 258
    assert ds.batch("train", torch.arange(3))["x"].shape == (3, 32), "windows, not padded lines (tests/test_tokens.py)"


def test_folder_with_class_subfolders_gives_labels(tmp_path: Path) -> None:
    for c, n in (("cats", 6), ("dogs", 4)):
        (tmp_path / c).mkdir()
        (tmp_path / c / "a.txt").write_text("\n".join(f"{c} {i}" for i in range(n)))
    (tmp_path / "dogs" / "b.txt").write_text("dogs extra\n")
    ds = load(tmp_path)
    assert ds.classes == ("cats", "dogs") and ds.info["num_classes"] == 2
    assert ds.y_train is not None and ds.y_eval is not None
    x = torch.cat([ds.train["x"], ds.eval["x"]])
    y = torch.cat([ds.y_train, ds.y_eval])
    assert torch.bincount(y).tolist() == [6, 5]
    assert all(t.startswith(("cats", "dogs")[label]) for t, label in zip(data.to_text(x), y.tolist(), strict=True))


def test_flat_folder_is_an_unlabelled_stream(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text("\n".join(f"file {i} line {j}" for j in range(5)))
    ds = load(tmp_path)
    assert ds.y_train is None and ds.window == 32


def test_npz_with_and_without_labels(tmp_path: Path) -> None:
    x = np.arange(40, dtype=np.int32).reshape(10, 4)
    np.savez(tmp_path / "a.npz", x=x)
    ds = load(tmp_path / "a.npz")
    assert ds.y_train is None and ds.info == {"vocab_size": 39 + 3, "seq_len": 4, "num_classes": 0}
    assert torch.equal(torch.cat([ds.train["x"], ds.eval["x"]]).sort(0).values, torch.from_numpy(x + 2).long())
    np.savez(tmp_path / "b.npz", x=x, y=np.arange(10) % 3)
    ds = load(tmp_path / "b.npz", seq_len=3)
    assert ds.info["seq_len"] == 3 and ds.info["num_classes"] == 3 and ds.classes == ("0", "1", "2")
    assert ds.y_train is not None and ds.y_eval is not None
    assert torch.equal((torch.cat([ds.train["x"], ds.eval["x"]])[:, 0] - 2) // 4 % 3,
                       torch.cat([ds.y_train, ds.y_eval]))


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.txt", b"", "holds no text"),
    ("one.txt", b"only one line\n", "lower data.seq_len"),
    ("binary.txt", b"ab\x00cd\n", "NUL"),
])
def test_bad_text_files_are_one_line_errors(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        load(tmp_path / name)
    assert str(tmp_path / name) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("arrays", "message"), [
    ({"y": np.zeros(4, dtype=np.int64)}, "no array named 'x'"),
    ({"x": np.zeros((4, 3), dtype=np.float32)}, "float32"),
    ({"x": np.zeros(4, dtype=np.int64)}, "shape"),
    ({"x": -np.ones((4, 3), dtype=np.int64)}, "negative"),
    ({"x": np.zeros((4, 3), dtype=np.int64), "y": np.zeros(3, dtype=np.int64)}, "one label per row"),
])
def test_bad_npz_is_a_one_line_error(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message) as err:
        load(tmp_path / "bad.npz")
    assert "expected" in str(err.value) and "\n" not in str(err.value)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no \.txt or \.jsonl files"):
        load(tmp_path)


# ---- configuration ----------------------------------------------------------------------

def test_config_text_defaults_validate() -> None:
    exp = config.from_overrides(["data.modality=text", "model.encoder=transformer", "data.num_samples=256"])
    assert exp.data.dataset == "topics" and exp.data.options["seq_len"] == 64
    assert exp.model.options == {"dim": 64, "depth": 2, "heads": 4}
    with pytest.raises(config.ConfigError, match="seq_len"):
        config.from_overrides(["data.modality=text", "data.seq_len=8"])
    with pytest.raises(config.ConfigError, match="does not apply to text"):
        config.from_overrides(["data.modality=text", "augment.grayscale.p=0.5"])


def test_config_path_alone_selects_text_files(tmp_path: Path) -> None:
    f = tmp_path / "corpus.txt"
    f.write_text("a\nb\nc\n")
    exp = config.from_overrides(["data.modality=text", f"data.path={f}", "augment.span_masking.spans=2"])
    assert exp.data.dataset == "text_files" and exp.data.options["path"] == str(f.resolve())
    assert exp.model.encoder == "transformer" and exp.augment["span_masking"] == {"fraction": 0.15, "spans": 2}
    assert list(exp.augment) == ["span_crop", "token_deletion", "span_masking"], "--set keeps the other defaults"
