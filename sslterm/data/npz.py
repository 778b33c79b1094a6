"""Users' ``.npz`` archives: one way to open them (always closed), one label rule, one error form."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

LABEL_RULE = ("labels are integers or strings; the classes are the distinct labels in sorted order, "
              "and each example's label becomes its class's index")


def fail(path: Path | str, what: str, expected: str) -> ValueError:
    """The one-line error for a user's file: ``PATH: what was found; expected what is allowed``."""
    return ValueError(f"{path}: {what}; expected {expected}")


def read_npz(path: Path | str, expected: str) -> dict[str, np.ndarray]:
    """Every array of the archive ``path``, read into memory and the file closed (no pickles).

    A file that is missing or not an .npz archive is one line naming it and ``expected``.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise fail(path, f"not a readable .npz file ({type(e).__name__}: {e})", expected) from None


def encode_labels(raw: np.ndarray, n: int, path: Path | str, expected: str) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Labels ``raw`` [n] → (class indices int64 [n], class names); see :data:`LABEL_RULE`.

    ``y = [5, 7, 5]`` gives indices ``[0, 1, 0]`` and classes ``("5", "7")``; text labels sort as text.
    """
    if raw.shape != (n,) or raw.dtype.kind not in "iuU":
        raise fail(path, f"y is {raw.dtype} {list(raw.shape)}, which does not fit {n} examples",
                   f"{expected} (y: one integer or string label per example)")
    classes, index = np.unique(raw, return_inverse=True)
    return torch.from_numpy(index.reshape(-1).astype(np.int64)), tuple(str(c) for c in classes.tolist())
