"""The byte-level BPE's trainer, configured once, and a quick measure of its bytes per token (no torch, no numpy).

Training and encoding a prepared text (:mod:`sslterm.data.bpe`) and the data's shape read before a run
(:mod:`sslterm.autoscan`, which derives ``data.seq_len`` in tokens) both train with :func:`untrained`.
Only these functions import ``tokenizers`` (``pip install 'sslterm[data]'``).
"""

from __future__ import annotations

from typing import Any

MIN_FREQUENCY = 2
"""A pair seen fewer times than this in the training text is never merged."""


def require() -> Any:
    """The ``tokenizers`` module; one line saying how to install it when it is missing."""
    try:
        import tokenizers
    except ImportError:
        raise ValueError("data.tokenizer = 'bpe' needs the tokenizers package: pip install 'sslterm[data]' "
                         "(or use data.tokenizer = 'bytes')") from None
    return tokenizers


def untrained(vocab_size: int) -> tuple[Any, Any]:
    """A byte-level BPE tokenizer before training (GPT-2's pre-tokeniser, all 256 bytes) and its trainer."""
    tk = require()
    tokenizer = tk.Tokenizer(tk.models.BPE())
    tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=MIN_FREQUENCY, show_progress=False,
                                     initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    return tokenizer, trainer


def bytes_per_token(texts: list[str], vocab_size: int) -> float:
    """Bytes per token of ``texts`` under a byte-level BPE of (at most) ``vocab_size`` ids trained on them.

    A quick measure, before the text is prepared, of how much the run's BPE shortens it (the prepared
    entry's manifest holds the exact figure for the whole training text); 1.0 for no text.
    """
    tokenizer, trainer = untrained(vocab_size)
    tokenizer.train_from_iterator(texts, trainer)
    tokens = sum(len(e.ids) for e in tokenizer.encode_batch(texts))
    return sum(len(t.encode()) for t in texts) / tokens if tokens else 1.0
