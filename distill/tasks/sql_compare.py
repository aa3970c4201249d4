"""Execution-result comparison: does the predicted query return what the gold query returns?

Rules (documented in the README, so users can trust the numbers):
- rows are compared as a multiset, or as a sequence when the gold query's outermost SELECT has
  ORDER BY;
- integers compare exactly; floats with a relative tolerance of 1e-6 (so 3 == 3.0, and float sums
  taken in another order still match); NULL equals NULL; text is compared exactly;
- column names are ignored and a permutation of the gold columns is accepted (`SELECT name, price`
  answers the same question as `SELECT price, name`); a different number of columns never matches.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import sqlglot
from sqlglot import exp

# Above this many columns, trying every permutation costs too much; compare in order only.
_MAX_PERMUTED_COLUMNS = 6


def _canonical(value):
    """A hashable key for one cell: integers (and integral floats) exact, other floats as floats."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int):
        return (1, int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return (1, "nan")
        if value.is_integer() and abs(value) < 2**53:
            return (1, int(value))
        return (1, value)
    if isinstance(value, bytes):
        return (3, value.hex())
    return (2, str(value))


def _close(a, b) -> bool:
    if a[0] == b[0] == 1 and (isinstance(a[1], float) or isinstance(b[1], float)):
        return math.isclose(a[1], b[1], rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def _rows_match(gold: list[tuple], pred: list[tuple], ordered: bool) -> bool:
    if len(gold) != len(pred):
        return False
    if not ordered:
        if Counter(gold) == Counter(pred):
            return True
        # Floats that differ in the last digits hash differently; compare sorted, with tolerance.
        gold, pred = sorted(gold, key=_sort_key), sorted(pred, key=_sort_key)
    return all(all(_close(g, p) for g, p in zip(gr, pr, strict=True)) for gr, pr in zip(gold, pred, strict=True))


def _sort_key(row: tuple) -> tuple:
    return tuple((kind, str(v)) if not isinstance(v, int | float) else (kind, "", v) for kind, v in row)


def gold_is_ordered(gold_sql: str) -> bool:
    """True when the outermost query of `gold_sql` has ORDER BY, so row order is part of the answer."""
    try:
        tree = sqlglot.parse_one(gold_sql, read="sqlite")
    except (sqlglot.errors.SqlglotError, RecursionError):
        return "order by" in gold_sql.lower()
    return isinstance(tree, exp.Query) and tree.args.get("order") is not None


def results_match(gold_rows, pred_rows, ordered: bool) -> bool:
    """Compare two query results (sequences of row tuples) under the rules above."""
    gold = [tuple(_canonical(v) for v in row) for row in gold_rows]
    pred = [tuple(_canonical(v) for v in row) for row in pred_rows]
    if not gold or not pred:
        return not gold and not pred
    width = len(gold[0])
    if any(len(r) != width for r in pred):
        return False
    if _rows_match(gold, pred, ordered):
        return True
    if width > _MAX_PERMUTED_COLUMNS:
        return False
    for perm in itertools.permutations(range(width)):
        if list(perm) == list(range(width)):
            continue
        if _rows_match(gold, [tuple(r[i] for i in perm) for r in pred], ordered):
            return True
    return False
