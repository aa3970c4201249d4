"""Execution-result comparison: does the predicted query return what the gold query returns?

Rules (documented in the README, so users can trust the numbers):
- rows are compared as a multiset, or as a sequence when the gold query's outermost SELECT has
  ORDER BY;
- integers compare exactly; floats with a relative tolerance of 1e-6 (so 3 == 3.0, and float sums
  taken in another order still match); NULL equals NULL; text is compared exactly;
- without ORDER BY, rows are paired one to one, each pair equal cell by cell: a tolerant float
  never pairs rows that differ in another cell, whatever order the rows come in;
- column names are ignored and a permutation of the gold columns is accepted (`SELECT name, price`
  answers the same question as `SELECT price, name`); a different number of columns never matches.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections import Counter, defaultdict

import sqlglot
from sqlglot import exp

# Above this many columns, trying every permutation costs too much; compare in order only.
_MAX_PERMUTED_COLUMNS = 6
_REL_TOL, _ABS_TOL = 1e-6, 1e-9


def _canonical(value):
    """A hashable key for one cell: integers (and integral floats) exact, other floats as floats."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int):
        return (1, int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return (4, "nan")
        if value.is_integer() and abs(value) < 2**53:
            return (1, int(value))
        return (1, value)
    if isinstance(value, bytes):
        return (3, value.hex())
    return (2, str(value))


def _close(a, b) -> bool:
    if a[0] == b[0] == 1 and (isinstance(a[1], float) or isinstance(b[1], float)):
        return math.isclose(a[1], b[1], rel_tol=_REL_TOL, abs_tol=_ABS_TOL)
    return a == b


def _rows_close(a: tuple, b: tuple) -> bool:
    return all(_close(x, y) for x, y in zip(a, b, strict=True))


def _multisets_match(gold: list[tuple], pred: list[tuple]) -> bool:
    """Is there a one-to-one pairing of gold and predicted rows, each pair equal cell by cell
    (numbers within tolerance)? Exact duplicates cancel first; the rest is a bipartite matching
    within groups that share every non-numeric cell, so near-equal floats of different groups
    (rows that differ in a text cell) are never paired, whatever the sort order."""
    gold_left, pred_left = Counter(gold), Counter(pred)
    common = gold_left & pred_left
    gold_left, pred_left = gold_left - common, pred_left - common
    if not gold_left and not pred_left:
        return True
    # Usually the rest pairs up in sorted order (sums that differ in the last bit); sorted
    # pairing is only a shortcut to "yes", never a reason for "no".
    gold_rest, pred_rest = sorted(gold_left.elements(), key=_sort_key), sorted(pred_left.elements(), key=_sort_key)
    if len(gold_rest) == len(pred_rest) and all(_rows_close(g, p) for g, p in zip(gold_rest, pred_rest, strict=True)):
        return True

    def group(row: tuple) -> tuple:
        return tuple(cell if cell[0] != 1 else None for cell in row)

    groups: dict[tuple, tuple[list, list]] = defaultdict(lambda: ([], []))
    for side, rows in ((0, gold_left), (1, pred_left)):
        for row, count in rows.items():
            groups[group(row)][side].extend([row] * count)
    # Within a group, the numeric cells are exactly the ones its key leaves out.
    return all(_pair_all(g, p, [i for i, c in enumerate(k) if c is None]) for k, (g, p) in groups.items())


def _pair_all(gold: list[tuple], pred: list[tuple], numeric: list[int]) -> bool:
    """A perfect matching between `gold` and `pred` under `_rows_close` (Kuhn's augmenting paths;
    candidates found by bisecting on the numeric column with the most distinct values, so sizes in
    the thousands stay fast)."""
    if len(gold) != len(pred):
        return False
    if not numeric:
        return not gold  # rows equal only exactly, and the exact ones already cancelled
    key = max(numeric, key=lambda i: len({row[i] for row in pred}))  # the most telling column
    order = sorted(range(len(pred)), key=lambda j: pred[j][key][1])
    values = [pred[j][key][1] for j in order]

    def neighbours(row: tuple) -> list[int]:
        v = row[key][1]
        tol = max(_REL_TOL * abs(v) * 2, _ABS_TOL * 2)
        lo, hi = bisect.bisect_left(values, v - tol), bisect.bisect_right(values, v + tol)
        return [order[k] for k in range(lo, hi) if _rows_close(row, pred[order[k]])]

    match_of_pred: dict[int, int] = {}
    edges = [neighbours(row) for row in gold]
    fewest_options_first = sorted(range(len(gold)), key=lambda i: len(edges[i]))
    return all(_augment(g, edges, match_of_pred, set()) for g in fewest_options_first)


def _augment(g: int, edges: list[list[int]], match_of_pred: dict[int, int], seen: set[int]) -> bool:
    # Iterative depth-first search for an augmenting path (no recursion limit on long chains).
    stack = [(g, iter(edges[g]))]
    path: list[tuple[int, int]] = []
    while stack:
        node, it = stack[-1]
        for p in it:
            if p in seen:
                continue
            seen.add(p)
            path.append((node, p))
            if p not in match_of_pred:
                for gold_row, pred_row in path:
                    match_of_pred[pred_row] = gold_row
                return True
            stack.append((match_of_pred[p], iter(edges[match_of_pred[p]])))
            break
        else:
            stack.pop()
            if path:
                path.pop()
    return False


def _sort_key(row: tuple) -> tuple:
    return tuple(map(_sort_key1, row))


def _columns_match(gold: tuple, pred: tuple, ordered: bool) -> bool:
    """One column against another, as a sequence or as a sorted multiset. For one column sorted
    pairing is exact, so a failure here rules out every row pairing that maps these columns."""
    if not ordered:
        gold, pred = sorted(gold, key=_sort_key1), sorted(pred, key=_sort_key1)
    return all(_close(g, p) for g, p in zip(gold, pred, strict=True))


def _sort_key1(cell: tuple) -> tuple:
    kind, value = cell
    return (kind, float(value)) if kind == 1 else (kind, value)


def _column_orders(compatible: list[list[bool]], permute: bool):
    """Column orders (pred column for each gold column) that every column check allows, the
    identity first; only the identity when `permute` is off."""
    width = len(compatible)
    identity = tuple(range(width))
    if all(compatible[i][i] for i in range(width)):
        yield identity
    if not permute:
        return

    def extend(prefix: list[int]):
        if len(prefix) == width:
            if tuple(prefix) != identity:
                yield tuple(prefix)
            return
        for j in range(width):
            if j not in prefix and compatible[len(prefix)][j]:
                yield from extend([*prefix, j])

    yield from extend([])


def _rows_match(gold: list[tuple], pred: list[tuple], ordered: bool) -> bool:
    if ordered:
        return all(_rows_close(g, p) for g, p in zip(gold, pred, strict=True))
    return _multisets_match(gold, pred)


@functools.lru_cache(maxsize=4096)
def gold_is_ordered(gold_sql: str) -> bool:
    """True when the outermost query of `gold_sql` has ORDER BY, so row order is part of the answer.
    A trailing `;` or comment (`…; -- alphabetical`) is not a statement of its own."""
    try:
        trees = [t for t in sqlglot.parse(gold_sql, read="sqlite") if t is not None]
    except (sqlglot.errors.SqlglotError, RecursionError):
        return re.search(r"\border\s+by\b", gold_sql, re.IGNORECASE) is not None
    query = next((t for t in trees if isinstance(t, exp.Query)), None)
    return query is not None and query.args.get("order") is not None


def results_match(gold_rows, pred_rows, ordered: bool) -> bool:
    """Compare two query results (sequences of row tuples) under the rules above."""
    gold = [tuple(_canonical(v) for v in row) for row in gold_rows]
    pred = [tuple(_canonical(v) for v in row) for row in pred_rows]
    if not gold or not pred:
        return not gold and not pred
    width = len(gold[0])
    if len(gold) != len(pred) or any(len(r) != width for r in pred):
        return False
    gold_columns, pred_columns = list(zip(*gold, strict=True)), list(zip(*pred, strict=True))
    compatible = [[_columns_match(g, p, ordered) for p in pred_columns] for g in gold_columns]
    for order in _column_orders(compatible, permute=width <= _MAX_PERMUTED_COLUMNS):
        if _rows_match(gold, [tuple(r[i] for i in order) for r in pred], ordered):
            return True
    return False
