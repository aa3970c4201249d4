"""How varied a set of pairs is, per kind and in total: distinct answer skeletons (literals
stripped), the tables and columns covered, and the difficulty mix derived from each answer's
structure (`Task.structure`). Tasks without a notion of structure report pair counts only."""

from __future__ import annotations

from collections import Counter

from distill.examples import Example
from distill.tasks.base import Checking, Structure


def _summary(rows: list[tuple[str, Structure | None]]) -> dict:
    known = [(db, s) for db, s in rows if s is not None]
    return {
        "pairs": len(rows),
        "skeletons": len({s.skeleton for _, s in known}),
        "tables": len({f"{db}.{t}" for db, s in known for t in s.sources}),
        "columns": len({f"{db}.{c}" for db, s in known for c in s.fields}),
        "difficulty": dict(sorted(Counter(s.difficulty for _, s in known).items())),
    }


def diversity(task: Checking, examples: list[Example]) -> dict:
    """{"total": {...}, "by_kind": {kind: {...}}}, each with `pairs`, `skeletons`, `tables` and
    `columns` (distinct `db.table`, `db.table.column`) and `difficulty` (pairs per level); the
    total adds `schema_tables` and `tables_unused` ({db: tables no pair reads}, databases with
    every table used left out)."""
    rows = [(ex.metadata.get("kind", "unknown"), task.context(ex), task.structure(ex.output, ex)) for ex in examples]
    schema: dict[str, frozenset[str]] = {}
    for ex in examples:
        db = task.context(ex)
        if db not in schema:
            schema[db] = task.schema_sources(ex)
    total = _summary([(db, s) for _, db, s in rows])
    unused = {
        db: sorted(tables - {t for _, d, s in rows if d == db and s is not None for t in s.sources})
        for db, tables in sorted(schema.items())
    }
    total |= {
        "schema_tables": sum(len(t) for t in schema.values()),
        "tables_unused": {db: names for db, names in unused.items() if names},
    }
    kinds = sorted({kind for kind, _, _ in rows})
    by_kind = {kind: _summary([(db, s) for k, db, s in rows if k == kind]) for kind in kinds}
    return {"total": total, "by_kind": by_kind}
