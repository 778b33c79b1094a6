"""Layering: every import points down (import contracts in pyproject.toml), and the faces start without torch.

The contracts are static and see every import, also those inside functions. What a face loads at
start-up is its module-level imports: checked here over the source of every module (``ast``), and
once in a fresh interpreter (``sys.modules``), as DESIGN.md asks. The one import by name, the catalog's
``implementation()``, may name only modules of the torch side.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PACKAGE = ROOT / "sslterm"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONTRACTS = {c["id"]: c for c in PYPROJECT["tool"]["importlinter"]["contracts"]}
TORCH_SIDE = tuple(CONTRACTS["torch-side"]["allowed_importers"])
"""The packages that may import torch; everything else starts without torch and numpy."""
NUMPY_AT_START_UP = tuple(m for m in CONTRACTS["numpy"]["allowed_importers"] if not m.startswith("sslterm.tui"))
"""The modules that may import numpy at start-up: the app only ever imports it inside a function."""
FACES = tuple(CONTRACTS["face-libraries"]["allowed_importers"])
FACE_LIBRARIES = tuple(CONTRACTS["face-libraries"]["protected_modules"])
HEAVY = ("torch", "numpy")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def module_level_imports(name: str) -> set[str]:
    """The modules that importing ``name`` imports directly: imports outside functions and TYPE_CHECKING."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
            elif isinstance(node, ast.If) and is_type_checking(node):
                visit(node.orelse)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit([n for n in getattr(node, field, []) if isinstance(n, (ast.stmt, ast.ExceptHandler))])
                if isinstance(node, ast.ExceptHandler):
                    visit(node.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def loaded_at_start_up(name: str) -> set[str]:
    """Top-level names of the outside packages that ``import name`` loads, following sslterm's module-level imports."""
    seen: set[str] = set()
    outside: set[str] = set()
    todo = [name]
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for i in range(1, len(parts) + 1):                        # importing a.b.c imports a and a.b first
            parent = ".".join(parts[:i])
            if parent in MODULES and parent not in seen:
                seen.add(parent)
                for imported in module_level_imports(parent):
                    if imported.split(".")[0] == "sslterm":
                        todo.append(imported)
                    else:
                        outside.add(imported.split(".")[0])
    return outside


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_nothing_outside_the_torch_side_loads_torch_or_numpy_at_start_up() -> None:
    starts_light = [m for m in MODULES if not within(m, TORCH_SIDE)]
    assert "sslterm.cli" in starts_light and "sslterm.tui.app" in starts_light and "sslterm.worker" in starts_light
    heavy = {m: sorted(loaded_at_start_up(m) & {"torch", *(() if within(m, NUMPY_AT_START_UP) else ("numpy",))})
             for m in starts_light}
    assert {m: h for m, h in heavy.items() if h} == {}


def test_the_start_up_check_sees_through_packages_and_skips_function_bodies() -> None:
    assert {"torch"} <= loaded_at_start_up("sslterm.train.loop")          # via sslterm.data and more
    assert "numpy" not in loaded_at_start_up("sslterm.tui.widgets.loss_chart")   # numpy inside a function


def loaded_in_a_fresh_interpreter(modules: list[str]) -> set[str]:
    code = (f"import sys\nfor m in {modules!r}:\n    __import__(m)\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_the_faces_and_the_viewers_start_without_torch() -> None:
    light = [m for m in MODULES if not within(m, TORCH_SIDE + NUMPY_AT_START_UP) and not m.endswith("__main__")]
    assert loaded_in_a_fresh_interpreter(light) & set(HEAVY) == set()


def test_the_core_never_loads_the_faces() -> None:
    core = [m for m in MODULES if not within(m, FACES) and not m.endswith("__main__")]
    assert "sslterm.store" in core and "sslterm.train.loop" in core
    assert loaded_in_a_fresh_interpreter(core) & set(FACE_LIBRARIES) == set()


def test_the_catalog_names_implementations_on_the_torch_side_only() -> None:
    from sslterm import catalog

    impls = {e.impl.partition(":")[0] for kind in catalog.KINDS for e in catalog.entries(kind) if e.impl}
    assert impls and {m for m in impls if not within(m, TORCH_SIDE) or m not in MODULES} == set()
