"""Text datasets as byte-level token ids: the generated ``topics`` corpus and ``text_files`` (your own text).

Token ids are bytes shifted by two: 0 is PAD (only ever at the end of a sequence), 1 is MASK, and
byte b is id b + 2, so the vocabulary has 258 ids. Labelled sequences are stored as int64 [N, L];
unlabelled text as a memory-mapped token stream cut into windows (see :mod:`sslterm.data.tokens`):
bytes as above, or a BPE trained on the text (``data.tokenizer = "bpe"``), BPE id i being id i + 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslterm.data import Dataset
from sslterm.data.npz import encode_labels, fail, read_npz
from sslterm.data.splits import split_labelled
from sslterm.formats import AUTO, Format, detect, labelled_text_folder, text_class_folders

PAD, MASK, OFFSET = 0, 1, 2
BYTE_VOCAB = 256 + OFFSET
STREAM_DTYPES = {"uint8": torch.uint8, "uint16": torch.int16, "int32": torch.int32}
"""How a prepared stream's dtype is mapped: uint16 as int16 (indexing works on every device; windows
read it back as unsigned, :func:`sslterm.data.windows`)."""
SPACE = ord(" ") + OFFSET

_CONSONANTS = b"bdfgklmnprstvz"
_VOWELS = b"aeiou"
WORDS_PER_TOPIC = 12
FUNCTION_WORDS = 10
TOPIC_SHARE = 0.75        # probability mass of a topic's own words among its content words
FOLLOW = 0.5              # probability that a content word is its predecessor's topic-specific successor
FUNCTION_RATE = 0.3       # probability of a function word before each content word


def to_ids(data: bytes) -> torch.Tensor:
    """Bytes → token ids int64 [len(data)]."""
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).long() + OFFSET if data else torch.zeros(0).long()


def to_text(x: torch.Tensor) -> list[str]:
    """Token ids [N, L] → one string per row (PAD dropped, MASK shown as '_'); for display only."""
    rows = []
    for row in x.cpu().tolist():
        rows.append(bytes(b - OFFSET if b >= OFFSET else ord("_") for b in row if b != PAD)
                    .decode("utf-8", errors="replace"))
    return rows


# ---- the generated `topics` corpus ------------------------------------------------------

def _syllable(i: int) -> bytes:
    """Consonant-vowel syllable number ``i`` of ``len(_CONSONANTS) * len(_VOWELS)``."""
    return bytes((_CONSONANTS[i // len(_VOWELS)], _VOWELS[i % len(_VOWELS)]))


def _invent_topic_words(num_topics: int, gen: torch.Generator) -> list[bytes]:
    """``WORDS_PER_TOPIC`` distinct pseudo-words per topic, topic by topic.

    Every topic's words are a different arrangement of one shared multiset of syllables, so all
    topics use the same letters equally often: a topic shows in which syllables go together (and
    in word order), not in letter counts. Loops run over topics and words only.
    """
    lengths = [2 + i % 2 for i in range(WORDS_PER_TOPIC)]                  # 2 and 3 syllables
    bag = torch.randint(len(_CONSONANTS) * len(_VOWELS), (sum(lengths),), generator=gen)
    cuts = [sum(lengths[:i]) for i in range(len(lengths) + 1)]
    taken: set[bytes] = set()
    words: list[bytes] = []
    for _ in range(num_topics):
        best: list[bytes] = []
        for _attempt in range(200):   # prefer words no other topic has; with many topics a few are shared
            syl = bag[torch.randperm(len(bag), generator=gen)].tolist()
            topic = [b"".join(_syllable(s) for s in syl[a:b]) for a, b in pairwise(cuts)]
            if len(set(topic)) < len(topic):
                continue
            if not best or len(taken.intersection(topic)) < len(taken.intersection(best)):
                best = topic
            if not taken.intersection(topic):
                break
        if not best:
            raise RuntimeError("could not invent distinct words for a topic; try another seed")
        topic = best
        taken.update(topic)
        words += topic
    return words


def _function_words(gen: torch.Generator) -> list[bytes]:
    """``FUNCTION_WORDS`` distinct one-syllable words shared by all topics."""
    pick = torch.randperm(len(_CONSONANTS) * len(_VOWELS), generator=gen)[:FUNCTION_WORDS]
    return [_syllable(i) for i in pick.tolist()]


def _word_table(words: list[bytes]) -> tuple[torch.Tensor, torch.Tensor]:
    """Words as a padded byte-id table [W, max_len] and their lengths [W]."""
    width = max(len(w) for w in words)
    table = torch.zeros(len(words), width, dtype=torch.long)
    for i, w in enumerate(words):
        table[i, : len(w)] = to_ids(w)
    return table, torch.tensor([len(w) for w in words])


@dataclass(frozen=True)
class TopicModel:
    """The fixed structure of a ``topics`` corpus: its words and each topic's word statistics."""

    table: torch.Tensor         # [W, w] byte ids of every word (content words first), PAD-padded
    lens: torch.Tensor          # [W] word lengths
    cdf: torch.Tensor           # [K, Wc] cumulative unigram distribution of each topic's content words
    succ_pow: torch.Tensor      # [n + 1, K, Wc] each topic's d-th successor of every content word, d ≤ n
    names: tuple[str, ...]      # a name per topic: its first word

    @property
    def num_topics(self) -> int:
        return int(self.cdf.shape[0])


def make_topic_model(num_topics: int, gen: torch.Generator) -> TopicModel:
    """Invent the vocabulary and the topics' word statistics from ``gen``.

    Topic k puts ``TOPIC_SHARE`` of its unigram mass on its own ``WORDS_PER_TOPIC`` words (the
    rest on other topics' words) and maps every content word to a successor among its own words;
    no topic's own successor of a word is the word itself.
    """
    content = _invent_topic_words(num_topics, gen)
    function = _function_words(gen)
    wc = len(content)
    table, lens = _word_table(content + function)
    owner = torch.arange(wc) // WORDS_PER_TOPIC                            # topic of each content word
    mine = owner[None] == torch.arange(num_topics)[:, None]                # [K, Wc]
    weights = torch.where(mine, TOPIC_SHARE / WORDS_PER_TOPIC, (1 - TOPIC_SHARE) / (wc - WORDS_PER_TOPIC))
    cdf = weights.cumsum(1)
    cdf[:, -1] = 1.0
    # each topic's own words in a random cycle: an own word's successor is the next one in it;
    # another topic's word is followed by a random own word
    cycle = torch.rand(num_topics, WORDS_PER_TOPIC, generator=gen).argsort(1)     # [K, n]
    nxt = torch.empty_like(cycle).scatter_(1, cycle, cycle.roll(-1, dims=1))     # [K, n] next in the cycle
    local = torch.arange(wc) % WORDS_PER_TOPIC
    anywhere = torch.randint(WORDS_PER_TOPIC, (num_topics, wc), generator=gen)
    succ = torch.where(mine, nxt[:, local], anywhere) + torch.arange(num_topics)[:, None] * WORDS_PER_TOPIC
    # after one step every word is an own word, whose successors repeat with period WORDS_PER_TOPIC
    succ_pow = [torch.arange(wc).expand(num_topics, wc)]
    for _ in range(WORDS_PER_TOPIC):
        succ_pow.append(succ.gather(1, succ_pow[-1]))
    first = [content[k * WORDS_PER_TOPIC].decode() for k in range(num_topics)]
    names = tuple(w if first.count(w) == 1 else f"{w}-{k}" for k, w in enumerate(first))
    return TopicModel(table, lens, cdf, torch.stack(succ_pow), names)


def generate_topics(model: TopicModel, n: int, seq_len: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` labelled sequences: (ids int64 [n, seq_len] padded with PAD at the end, topics int64 [n]).

    A sequence is a Markov chain of content words (with probability ``FOLLOW`` its topic's
    successor of the previous word, else a draw from the topic's unigram distribution), each
    preceded by a shared function word with probability ``FUNCTION_RATE``, words separated by
    spaces and cut after the last word that ends within a random length in [seq_len/2, seq_len].
    """
    k, wc = model.cdf.shape
    topic = (torch.arange(n) % k)[torch.randperm(n, generator=gen)]       # balanced labels
    slots = seq_len // 5 + 1                                               # a content word and space ≥ 5 bytes
    fresh = torch.searchsorted(model.cdf[topic], torch.rand(n, slots, generator=gen)).clamp(max=wc - 1)
    follow = torch.rand(n, slots, generator=gen) < FOLLOW
    follow[:, 0] = False
    # word i is the d-th successor of the last fresh draw j ≤ i (d = i - j): a table look-up, no loop
    i = torch.arange(slots)
    j = torch.where(follow, 0, i).cummax(dim=1).values                     # [n, slots] last fresh draw
    d = i - j
    period = model.succ_pow.shape[0] - 1                                   # successors cycle after this
    d = torch.where(d == 0, 0, (d - 1) % period + 1)
    words = model.succ_pow.flatten()[(d * k + topic[:, None]) * wc + fresh.gather(1, j)]  # [n, slots]
    func = wc + torch.randint(FUNCTION_WORDS, (n, slots), generator=gen)
    has_func = torch.rand(n, slots, generator=gen) < FUNCTION_RATE
    has_func[:, 0] = False                                                 # start with a content word
    seq = torch.stack([func, words], dim=2).flatten(1)                     # [n, M] word ids, M = 2·slots
    present = torch.stack([has_func, torch.ones_like(has_func)], dim=2).flatten(1)
    # spell the words: byte p of a row lies in the first word whose end (with its space) is > p
    span = torch.where(present, model.lens[seq] + 1, 0)                    # [n, M] bytes with the space
    ends = span.cumsum(1)                                                  # exclusive ends, non-decreasing
    p = torch.arange(seq_len).repeat(n, 1)                                 # [n, L] byte positions
    at = torch.searchsorted(ends, p, right=True).clamp(max=seq.shape[1] - 1)  # [n, L] word index
    word = seq.gather(1, at)
    offset = p - (ends.gather(1, at) - span.gather(1, at))
    width = model.table.shape[1]
    spelled = model.table.flatten()[word * width + offset.clamp(max=width - 1)]
    x = torch.where(offset >= model.lens[word], SPACE, spelled)
    # cut after the last word that ends at or before a random target length
    target = torch.randint(seq_len // 2, seq_len + 1, (n,), generator=gen)
    text_end = ends - 1                                                    # each word's end without its space
    length = torch.where(present & (text_end <= target[:, None]), text_end, 0).amax(1)
    x = torch.where(p < length[:, None], x, PAD)
    return x, topic


def build_topics(options: dict[str, Any]) -> Dataset:
    """Generate the train and held-out splits of ``topics`` from its catalog options."""
    seq_len = int(options["seq_len"])
    gen = torch.Generator().manual_seed(int(options["seed"]))
    model = make_topic_model(int(options["num_topics"]), gen)
    x_tr, y_tr = generate_topics(model, int(options["num_samples"]), seq_len, gen)
    x_ev, y_ev = generate_topics(model, int(options["num_eval"]), seq_len, gen)
    info = {"vocab_size": BYTE_VOCAB, "seq_len": seq_len, "num_classes": model.num_topics}
    return Dataset({"x": x_tr}, {"x": x_ev}, y_tr, y_ev, model.names, info)


# ---- your own text: `text_files` --------------------------------------------------------

_WHITESPACE = np.frombuffer(b" \t\x0b\x0c", dtype=np.uint8)


def split_lines(data: bytes, seq_len: int) -> np.ndarray:
    """Non-blank lines of ``data`` cut into chunks of ≤ ``seq_len`` bytes: ids int64 [n, L], PAD after.

    Vectorised over bytes: each byte gets its line number and position in the line, from which
    its example (line, chunk) and column follow. L is the longest chunk. Carriage returns are
    dropped; chunks of whitespace only are skipped.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    buf = buf[buf != 13]
    newline = buf == 10
    line = np.cumsum(newline) - newline                                    # line number of every byte
    text, line = buf[~newline], line[~newline]
    if len(text) == 0:
        return np.zeros((0, 0), dtype=np.int64)
    first = np.r_[True, line[1:] != line[:-1]]                            # first byte of each line
    start = np.flatnonzero(first)
    pos = np.arange(len(text)) - np.repeat(start, np.diff(np.r_[start, len(text)]))
    chunk = pos // seq_len
    new = first | np.r_[True, chunk[1:] != chunk[:-1]]
    example = np.cumsum(new) - 1
    out = np.zeros((int(example[-1]) + 1, seq_len), dtype=np.int64)
    out[example, pos % seq_len] = text.astype(np.int64) + OFFSET
    visible = np.bincount(example, weights=~np.isin(text, _WHITESPACE), minlength=len(out)) > 0
    out = out[visible]
    width = int((out != PAD).sum(1).max()) if len(out) else 0
    return out[:, :width]


def read_text_bytes(path: Path) -> bytes:
    """A .txt file's bytes; one line when it holds NUL bytes (then it is not text)."""
    data = path.read_bytes()
    if b"\x00" in data:
        raise ValueError(f"{path}: contains NUL bytes, so it is not a text file; expected lines of text")
    return data


def visible_lines(data: bytes) -> list[bytes]:
    """The lines of ``data`` that hold more than whitespace, carriage returns dropped (as :func:`split_lines`)."""
    return [line for line in data.replace(b"\r", b"").split(b"\n") if line.strip(b" \t\x0b\x0c")]


def labelled_files(root: Path) -> tuple[list[tuple[Path, int]], tuple[str, ...]]:
    """A folder of class subfolders: its .txt files, each with its class index, and the class names."""
    classes = text_class_folders(root)
    return [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).rglob("*.txt"))], classes


def _read_text_file(path: Path, seq_len: int) -> np.ndarray:
    return split_lines(read_text_bytes(path), seq_len)


def _pad_stack(parts: list[np.ndarray]) -> np.ndarray:
    """Stack [n_i, L_i] id arrays into one [Σn, max L], padding with PAD."""
    width = max(p.shape[1] for p in parts)
    return np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1]))) for p in parts])


def _read_folder(root: Path, seq_len: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """A folder of class subfolders of .txt files: one example per line (chunk), labelled by its subfolder."""
    files, classes = labelled_files(root)
    parts = [(_read_text_file(f, seq_len), label) for f, label in files]   # a loop over files, not examples
    parts = [(x, label) for x, label in parts if len(x)]
    if not parts:
        raise ValueError(f"{root}: every .txt file is empty; expected lines of text")
    x = _pad_stack([x for x, _ in parts])
    y = np.concatenate([np.full(len(x), label) for x, label in parts])
    return x, y, classes


def load_text_stream(path: Path, seq_len: int, text_field: str, seed: int, tokenizer: str = "bytes",
                     vocab_size: int = 8192, data_format: str = AUTO) -> Dataset:
    """Unlabelled text prepared into memory-mapped token streams (:mod:`sslterm.data.tokens`), as windows."""
    from sslterm.data.tokens import EVAL, TRAIN, prepare_text

    entry, manifest = prepare_text(path, text_field, seed, tokenizer=tokenizer, vocab_size=vocab_size,
                                   data_format=data_format)
    files = manifest.get("files") or {"train": TRAIN, "eval": EVAL}      # entries made before BPE: bytes
    sizes = {split: int(manifest.get(f"{split}_tokens", manifest[f"{split}_bytes"])) for split in ("train", "eval")}
    kind = manifest.get("tokenizer", "bytes")
    unit = "bytes" if kind == "bytes" else "tokens"
    if not sizes["train"] + sizes["eval"]:
        raise ValueError(f"{path}: holds no text; expected .txt files or .jsonl records with text in them")
    if sizes["train"] < seq_len or sizes["eval"] == 0:
        raise ValueError(f"{path}: {sizes['train']} {unit} of training text and {sizes['eval']} held out; expected "
                         f"at least seq_len = {seq_len} {unit} to train on and some to hold out (lower data.seq_len)")
    dtype = STREAM_DTYPES[manifest.get("dtype", "uint8")]
    train, held = (torch.from_file(str(entry / files[split]), shared=False, size=sizes[split], dtype=dtype)
                   for split in ("train", "eval"))
    info: dict[str, Any] = {"vocab_size": int(manifest["vocab_size"]), "seq_len": seq_len, "num_classes": 0,
                            "bytes_per_token": float(manifest["bytes_per_token"])}
    if kind == "bpe":
        from sslterm.data.bpe import entry_info

        info.update(entry_info(entry, OFFSET))
    return Dataset({"x": train}, {"x": held}, None, None, (), info, window=seq_len)


_EXPECTED_NPZ = "an integer array x [N, L] of token ids ≥ 0 and an optional array y [N] of labels"


def _read_npz(path: Path, seq_len: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Token ids int64 [N, ≤ seq_len] (shifted past PAD and MASK) and the raw labels (or None) from an .npz."""
    arrays = read_npz(path, _EXPECTED_NPZ)
    if "x" not in arrays:
        raise fail(path, "no array named 'x'", _EXPECTED_NPZ)
    x, y = arrays["x"], arrays.get("y")
    if not np.issubdtype(x.dtype, np.integer) or x.ndim != 2 or x.shape[1] == 0:
        raise fail(path, f"x is {x.dtype} with shape {x.shape}", _EXPECTED_NPZ)
    if x.size and x.min() < 0:
        raise fail(path, f"x holds negative ids (min {x.min()})", _EXPECTED_NPZ)
    if y is not None and y.shape != (len(x),):
        raise fail(path, f"y has shape {y.shape}", f"one label per row of x ({len(x)}): {_EXPECTED_NPZ}")
    return x[:, :seq_len].astype(np.int64) + OFFSET, y


def load_text_files(options: dict[str, Any]) -> Dataset:
    """The ``text_files`` dataset: your text from ``options['path']``, 10% held out for evaluation.

    Class subfolders of .txt files and .npz arrays give labelled rows (a line or a row each); any other
    text (.txt, .jsonl, a folder of them) is prepared once into a token stream and trained on as windows.
    """
    path = Path(options["path"])
    seq_len, limit, seed = int(options["seq_len"]), int(options["max_examples"]), int(options["seed"])
    if not str(options["path"]):
        raise ValueError("data.path is empty; expected a .txt file, a folder of .txt files, or an .npz file")
    vocab = BYTE_VOCAB
    y: np.ndarray | None
    fmt = detect(path, "text", str(options.get("format", AUTO)))
    if fmt is Format.TEXT_FILES and labelled_text_folder(path, options):
        if options.get("tokenizer") == "bpe":
            from sslterm.data.labelled_bpe import load_labelled_bpe

            return load_labelled_bpe(path, options)
        x, y, classes = _read_folder(path, seq_len)
    elif fmt is Format.NPZ:
        x, y = _read_npz(path, seq_len)
        classes = ()
        vocab = int(x.max()) + 1 if x.size else OFFSET
    else:
        return load_text_stream(path, seq_len, str(options.get("text_field", "text")), seed,
                                str(options.get("tokenizer", "bytes")), int(options.get("vocab_size", 8192)),
                                fmt.value if options.get("format", AUTO) != AUTO else AUTO)
    if limit and limit < len(x):
        pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:limit].numpy()
        x, y = x[pick], None if y is None else y[pick]
    xt = torch.from_numpy(x)
    yt = None
    if y is not None and path.suffix.lower() == ".npz":
        yt, classes = encode_labels(y, len(y), path, _EXPECTED_NPZ)
    elif y is not None:
        yt = torch.from_numpy(y.astype(np.int64))
    if len(xt) < 2:
        raise ValueError(f"{path}: {len(xt)} example(s); need at least 2 to hold one out for evaluation")
    info = {"vocab_size": vocab, "seq_len": int(xt.shape[1]), "num_classes": len(classes)}
    return split_labelled({"x": xt}, yt, classes, info, seed=seed)
