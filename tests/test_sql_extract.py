import pytest

from distill.tasks.text2sql import extract_sql, normalize_sql


@pytest.mark.parametrize(
    "text, expected",
    [
        ("SELECT 1", "SELECT 1"),
        ("SELECT name FROM t;", "SELECT name FROM t"),
        ("SELECT name FROM t;;  ", "SELECT name FROM t"),
        ("```sql\nSELECT a\nFROM t\n```", "SELECT a\nFROM t"),
        ("```\nSELECT a FROM t;\n```\nThis returns a.", "SELECT a FROM t"),
        ("Here is the query:\n```sqlite\nSELECT a FROM t\n```", "SELECT a FROM t"),
        ("To answer this, use: SELECT a FROM t WHERE b = 1; It filters rows.", "SELECT a FROM t WHERE b = 1"),
        ("SELECT a FROM t\n\nThis query lists every a.", "SELECT a FROM t"),
        ("SELECT 'x;y' FROM t; SELECT 2", "SELECT 'x;y' FROM t"),
        ("with c as (select 1 as x) select x from c", "with c as (select 1 as x) select x from c"),
        ("```python\nprint(1)\n```\n```sql\nSELECT 2\n```", "SELECT 2"),
        ("I cannot answer that.", "I cannot answer that."),
        ("", ""),
        ("To select the names, run:\n\nSELECT name FROM t", "SELECT name FROM t"),
        ("Here is the query with a join:\nSELECT a FROM t JOIN u ON t.x = u.x", "SELECT a FROM t JOIN u ON t.x = u.x"),
        ("```sql SELECT a FROM t```", "SELECT a FROM t"),
        ("Use `SELECT a FROM t` here.", "SELECT a FROM t"),
    ],
)
def test_extract_sql(text, expected):
    assert extract_sql(text) == expected


def test_normalize_sql_ignores_case_and_whitespace():
    assert normalize_sql("select  NAME from Employees where id=1") == normalize_sql(
        "SELECT name\nFROM employees WHERE id = 1"
    )
    assert normalize_sql("SELECT name FROM t WHERE id = 1") != normalize_sql("SELECT name FROM t WHERE id = 2")
    assert normalize_sql("SELEC nonsense (") is None


def test_normalize_sql_survives_sqlglot_generator_crashes():
    # A student once wrote this DDL; sqlglot parses it but its SQLite generator raises KeyError.
    assert normalize_sql("CREATE TABLE t (a INTEGER, PRIMARY KEY (customer_id))") is None
