"""Layering: the core knows nothing of the faces, and the faces never import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

FACES = ("textual", "typer", "plotext", "rich")


def loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("module", ["sslterm.cli", "sslterm.store", "sslterm.launch", "sslterm.config",
                                    "sslterm.catalog", "sslterm.worker", "sslterm.tui.app"])
def test_viewers_and_launcher_never_import_torch(module: str) -> None:
    assert "torch" not in loaded_after(f"import {module}")


@pytest.mark.parametrize("module", ["sslterm.config", "sslterm.store", "sslterm.catalog", "sslterm.train.loop",
                                    "sslterm.objectives", "sslterm.augment", "sslterm.models", "sslterm.data"])
def test_core_never_imports_the_faces(module: str) -> None:
    assert not loaded_after(f"import {module}") & set(FACES)
