"""What a SQL query is made of: its skeleton, the tables and columns it reads, and a difficulty
derived from its structure (joins, aggregation, grouping, subqueries, set operations).

Used for the difficulty of synthetic pairs (the teacher's own claim is not trusted) and for the
diversity of a kept set (distinct skeletons, schema coverage).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from distill.tasks.base import Structure

SET_OPERATIONS = (exp.Union, exp.Intersect, exp.Except)


def parse_select(sql: str) -> exp.Expression | None:
    """The parsed query when `sql` is one read-only query (SELECT, WITH … SELECT, or a set
    operation of them); None when it does not parse or is anything else."""
    try:
        trees = sqlglot.parse(sql, read="sqlite")
    except (SqlglotError, RecursionError):
        return None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        return None
    tree = trees[0]
    if not isinstance(tree, (exp.Select, *SET_OPERATIONS)):
        return None
    return tree


def structure_points(tree: exp.Expression) -> dict[str, int]:
    """Counts of the structural features that make a query harder to write."""
    selects = len(list(tree.find_all(exp.Select)))
    set_ops = len(list(tree.find_all(*SET_OPERATIONS)))
    return {
        "joins": len(list(tree.find_all(exp.Join))),
        "aggregation": int(any(True for _ in tree.find_all(exp.AggFunc))),
        "grouping": int(any(True for _ in tree.find_all(exp.Group, exp.Having))),
        # Every SELECT beyond the outermost one and those joined by set operations is nested.
        "subqueries": max(0, selects - 1 - set_ops),
        "set_operations": set_ops,
    }


def difficulty(points: dict[str, int]) -> str:
    """Score = joins + aggregation + grouping + 2 × (subqueries + set operations); easy ≤ 1,
    medium 2–3, hard ≥ 4. So easy is a lookup or filter with at most one join or one plain
    aggregate; medium is, for example, a grouped aggregate, a join with a grouping, or a lone
    subquery; hard needs more (two joins with a grouped aggregate, a set operation with a
    subquery)."""
    score = (
        points["joins"]
        + points["aggregation"]
        + points["grouping"]
        + 2 * (points["subqueries"] + points["set_operations"])
    )
    return "easy" if score <= 1 else "medium" if score <= 3 else "hard"


def skeleton(tree: exp.Expression) -> str:
    """The query with every literal replaced by `?`, rendered canonically (keywords upper,
    identifiers lower), so questions that differ only in their values share one skeleton."""
    stripped = tree.copy().transform(lambda node: exp.Placeholder() if isinstance(node, exp.Literal) else node)
    return stripped.sql(dialect="sqlite", normalize=True, comments=False)


def sql_structure(sql: str, schema: dict[str, set[str]]) -> Structure | None:
    """The structure of `sql` against `schema` (table -> its columns, lower-case); None when it is
    not one read-only query. Columns are counted as `table.column` when the table is known: by
    its qualifier, else by the only table of the query that has such a column."""
    tree = parse_select(sql)
    if tree is None:
        return None
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    aliases: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if name and name not in ctes:
            aliases[table.alias_or_name.lower()] = name
            aliases.setdefault(name, name)
    tables = frozenset(t for t in aliases.values() if t in schema)
    fields = set()
    for column in tree.find_all(exp.Column):
        name = column.name.lower()
        owner = aliases.get(column.table.lower()) if column.table else None
        if owner is None:
            owners = [t for t in tables if name in schema[t]]
            owner = owners[0] if len(owners) == 1 else None
        if owner in schema and name in schema[owner]:
            fields.add(f"{owner}.{name}")
    try:
        shape = skeleton(tree)
    except Exception:  # noqa: BLE001 - sqlglot's generator can fail on odd input; the structure is still known
        shape = " ".join(sql.split())
    return Structure(
        skeleton=shape, sources=tables, fields=frozenset(fields), difficulty=difficulty(structure_points(tree))
    )
