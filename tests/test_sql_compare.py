from distill.tasks.sql_compare import gold_is_ordered, results_match


def test_multiset_ignores_row_order_without_order_by():
    assert results_match([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], ordered=False)


def test_order_matters_when_gold_orders():
    assert not results_match([(1,), (2,)], [(2,), (1,)], ordered=True)
    assert results_match([(1,), (2,)], [(1,), (2,)], ordered=True)


def test_multiset_counts_duplicates():
    assert not results_match([(1,), (1,), (2,)], [(1,), (2,), (2,)], ordered=False)
    assert not results_match([(1,), (1,)], [(1,)], ordered=False)


def test_float_tolerance_and_int_float_equality():
    assert results_match([(3,)], [(3.0,)], ordered=False)
    assert results_match([(0.1 + 0.2,)], [(0.3,)], ordered=False)
    assert results_match([(1234567.891,)], [(1234567.8910000001,)], ordered=True)
    assert not results_match([(10.5,)], [(10.51,)], ordered=False)


def test_integers_are_exact():
    assert not results_match([(1234567,)], [(1234568,)], ordered=True)
    assert not results_match([(12345678901,)], [(12345678902,)], ordered=False)
    assert results_match([(12345678901,)], [(12345678901.0,)], ordered=False)


def test_null_safe():
    assert results_match([(None, 1)], [(None, 1)], ordered=False)
    assert not results_match([(None,)], [(0,)], ordered=False)
    assert not results_match([(None,)], [("",)], ordered=False)


def test_text_is_exact():
    assert not results_match([("Berlin",)], [("berlin",)], ordered=False)
    assert not results_match([("1",)], [(1,)], ordered=False)


def test_column_permutation_accepted_but_not_extra_columns():
    assert results_match([("Ada", 120.5), ("Bob", 80.0)], [(80.0, "Bob"), (120.5, "Ada")], ordered=False)
    assert not results_match([("Ada",)], [("Ada", 1)], ordered=False)


def test_empty_results():
    assert results_match([], [], ordered=False)
    assert not results_match([(1,)], [], ordered=False)
    assert not results_match([], [(1,)], ordered=False)


def test_gold_is_ordered_looks_at_outermost_query_only():
    assert gold_is_ordered("SELECT name FROM t ORDER BY name")
    assert not gold_is_ordered("SELECT name FROM (SELECT name FROM t ORDER BY name LIMIT 3)")
    assert not gold_is_ordered("SELECT COUNT(*) FROM t")
