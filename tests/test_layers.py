"""The floor plan of `distill/`: layers bottom up, no import from a lower layer to a higher one,
and no import circle, counting imports inside functions (README → Layout)."""

from __future__ import annotations

import ast

import networkx as nx

from .imports import REPO, imports_of, project_files

LAYERS = (
    # foundation: no model, no task; everything may use it
    (
        "distill/__init__.py",
        "distill/config.py",
        "distill/io.py",
        "distill/errors.py",
        "distill/layouts.py",
        "distill/card.py",
        "distill/examples.py",
        "distill/models.py",
        "distill/sandbox.py",
        "distill/sandbox_runner.py",
    ),
    ("distill/tasks/", "distill/inference/"),
    ("distill/teachers/",),
    (
        "distill/preparation.py",
        "distill/generation/",
        "distill/validation/",
        "distill/training/",
        "distill/evaluation/",
    ),
    ("distill/export/",),
    ("stages/", "distill/cli.py", "distill/__main__.py"),
)
"""Bottom up. A file may import its own layer and the ones below."""


def layer_of(rel: str) -> int:
    for i, places in enumerate(LAYERS):
        if any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in places):
            return i + 1  # numbered as README → Layout numbers them, the foundation 1
    raise AssertionError(f"{rel} is in no layer: add it to LAYERS (and README → Layout)")


def _rel(path) -> str:
    return str(path.relative_to(REPO))


def project_edges() -> list[tuple[str, str]]:
    """(importer, imported) for every import in the project, as repository paths."""
    return [(_rel(f), _rel(t)) for f in project_files() for t in imports_of(f)]


def upward_imports(edges: list[tuple[str, str]]) -> list[str]:
    return [
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})" for a, b in edges if layer_of(b) > layer_of(a)
    ]


def circles(edges: list[tuple[str, str]]) -> list[str]:
    graph = nx.DiGraph(edges)
    # Each circle from its first file by name, so a message does not depend on set order.
    rotated = [c[c.index(min(c)) :] + c[: c.index(min(c))] for c in nx.simple_cycles(graph)]
    return sorted(" → ".join([*c, c[0]]) for c in rotated)


def test_every_file_has_a_layer_and_no_import_runs_upward():
    edges = project_edges()
    assert len(edges) > 100, "the import graph was not read"
    assert not (problems := upward_imports(edges)), "\n".join(problems)


def test_there_is_no_import_circle():
    assert not (problems := circles(project_edges())), "\n".join(problems)


def test_the_checks_catch_a_planted_upward_import_and_circle():
    edges = project_edges()
    assert ("distill/inference/hf.py", "distill/card.py") in edges  # an import inside a function
    planted = [*edges, ("distill/inference/hf.py", "distill/training/trainer.py")]
    assert upward_imports(planted) == [
        "distill/inference/hf.py (layer 2) imports distill/training/trainer.py (layer 4)"
    ]
    assert circles([*edges, ("distill/layouts.py", "distill/card.py")]) == [
        "distill/card.py → distill/layouts.py → distill/card.py"
    ]


def test_evaluation_reads_exports_through_layouts_not_export():
    for f in (REPO / "distill/evaluation").rglob("*.py"):
        assert not [t for t in imports_of(f) if _rel(t).startswith("distill/export/")], _rel(f)


def test_the_stage_package_imports_only_the_foundation():
    imported = {_rel(t) for t in imports_of(REPO / "stages/__init__.py")}
    assert imported <= {"distill/__init__.py", "distill/errors.py", "distill/io.py", "distill/layouts.py"}, imported


DYNAMIC_IMPORTS = {"distill/sandbox_runner.py": "imports the standard-library modules the sandboxed program names"}
"""Files that import by a computed name, which no static reading can follow; each says why."""


def test_no_project_module_is_imported_by_a_computed_name():
    found = set()
    for f in project_files():
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                literal = node.args and isinstance(node.args[0], ast.Constant)
                if called == "__import__" or (called == "import_module" and not literal):
                    found.add(_rel(f))
    assert found == set(DYNAMIC_IMPORTS), "a computed import hides a dependency from dvc.yaml and the layer check"
