"""How sslterm starts its own Python processes: this interpreter and this copy of sslterm, whatever the folder.

``python -m sslterm.worker`` puts the current folder first on the module path, so a folder named
``sslterm`` where the user stands (an old checkout, a notes folder) would be imported instead of the
package that started the process, and the worker would run other code than the CLI that launched it.
Children therefore start with ``PYTHONSAFEPATH=1`` (Python 3.11+: the folder is not added) and with
the folder holding the running package first on ``PYTHONPATH`` (so a checkout used without
installing still finds itself). Every process sslterm starts goes through these two functions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
"""The folder that holds the running ``sslterm`` package (site-packages, or a checkout)."""


def python_module(module: str, *args: str) -> list[str]:
    """The command that runs ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment set up to import this copy of sslterm, plus ``extra``."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != PACKAGE_ROOT]
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, *paths])
    env["PYTHONSAFEPATH"] = "1"
    env.update(extra)
    return env
