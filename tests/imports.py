"""The project's own import graph, read from the source (nothing is imported).

An edge A → B: A imports module B anywhere in its file (inside functions too), names it in
`importlib.import_module("…")`, or runs the sibling script B by file name
(`Path(__file__).with_name("sandbox_runner.py")`). Importing `a.b.c` also runs the packages
`a/__init__.py` and `a/b/__init__.py`: those count for what a stage depends on (`closure`), but
not as edges of the layer map, where a package's `__init__` only hands names on.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("distill", "stages")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str) -> Path | None:
    """The file that defines module `name`, or None when it is not the project's."""
    if not name or name.split(".")[0] not in PACKAGES:
        return None
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def project_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def _imports_and_scripts(path: Path) -> tuple[set[str], set[Path]]:
    """(dotted names of the modules `path` imports, wherever the import stands; sibling scripts it
    starts by file name), from one reading of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names: set[str] = set()
    scripts: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            submodules = {f"{mod}.{a.name}" for a in node.names if module_path(f"{mod}.{a.name}")}
            names.update(submodules)  # `from pkg import module`: pkg/__init__ only runs on the way
            if len(submodules) < len(node.names):
                names.add(mod)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func, value = node.func, node.args[0].value
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called == "import_module" and isinstance(value, str):
                names.add(value)
            elif called == "with_name" and isinstance(value, str) and (path.parent / value).is_file():
                scripts.add(path.parent / value)  # a sibling script started by file name
    return names, scripts


@cache
def imports_of(path: Path) -> frozenset[Path]:
    """Project files `path` imports or runs, directly (no package `__init__` on the way)."""
    names, scripts = _imports_and_scripts(path)
    found = {p for name in names if (p := module_path(name))} | scripts
    found.discard(path)
    return frozenset(found)


def _packages_above(path: Path) -> set[Path]:
    """The `__init__.py` files that importing `path` runs first."""
    rel = path.relative_to(REPO)
    return {
        init
        for i in range(1, len(rel.parts))
        if (init := REPO.joinpath(*rel.parts[:i], "__init__.py")).is_file() and init != path
    }


def closure(path: Path) -> set[Path]:
    """`path` and every project file that running it imports or runs, transitively."""
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(imports_of(current))
        todo.extend(_packages_above(current))
    return seen
