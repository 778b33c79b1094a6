"""What the ``sslterm`` commands share: the runs root, run and ``--json`` arguments, and the one-line failure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

RunsDir = Annotated[
    Path | None,
    typer.Option("--runs-dir", help="Runs root (default: $SSLTERM_RUNS, else ./runs).", show_default=False),
]
RunRef = Annotated[str, typer.Argument(help="A run id, a unique prefix of one, or a run directory.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line to stderr and exit (2 for bad input)."""
    typer.echo(f"sslterm: error: {message}", err=True)
    raise typer.Exit(code)
