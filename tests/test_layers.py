"""The floor plan of `distill/`: layers bottom up, no import from a lower layer to a higher one,
and no import circle, counting imports inside functions (README → Layout)."""

from __future__ import annotations

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
            return i
    raise AssertionError(f"{rel} is in no layer: add it to LAYERS (and README → Layout)")


def _rel(path) -> str:
    return str(path.relative_to(REPO))


def test_every_file_has_a_layer_and_no_import_runs_upward():
    upward = [
        f"{_rel(f)} (layer {layer_of(_rel(f))}) imports {_rel(t)} (layer {layer_of(_rel(t))})"
        for f in project_files()
        for t in imports_of(f)
        if layer_of(_rel(t)) > layer_of(_rel(f))
    ]
    assert not upward, "\n".join(upward)


def test_there_is_no_import_circle():
    graph = nx.DiGraph()
    for f in project_files():
        graph.add_node(_rel(f))
        graph.add_edges_from((_rel(f), _rel(t)) for t in imports_of(f))
    circles = [" → ".join([*c, c[0]]) for c in nx.simple_cycles(graph)]
    assert not circles, "\n".join(circles)


def test_evaluation_reads_exports_through_layouts_not_export():
    for f in (REPO / "distill/evaluation").rglob("*.py"):
        assert not [t for t in imports_of(f) if _rel(t).startswith("distill/export/")], _rel(f)


def test_the_stage_package_imports_only_the_foundation():
    imported = {_rel(t) for t in imports_of(REPO / "stages/__init__.py")}
    assert imported <= {"distill/__init__.py", "distill/errors.py", "distill/io.py", "distill/layouts.py"}, imported
