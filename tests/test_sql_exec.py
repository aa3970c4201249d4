import hashlib
import time

import pytest

from distill.io import DataError
from distill.tasks.sql_exec import ReadOnlyDatabase


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db_path(tiny_task, tmp_path):
    return tmp_path / "db" / "hr.sqlite"


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE employees",
        "DELETE FROM employees",
        "UPDATE employees SET salary = 0",
        "INSERT INTO departments VALUES (9, 'X')",
        "CREATE TABLE x (a INTEGER)",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA writable_schema = ON",
        "PRAGMA table_info(employees)",
        "BEGIN IMMEDIATE",
        "VACUUM",
        "SELECT load_extension('x')",
        "SELECT 1; DROP TABLE employees",
        "WITH gone AS (SELECT 1) DELETE FROM employees",
    ],
)
def test_side_effects_are_denied_and_database_is_byte_identical(db_path, sql):
    before = _digest(db_path)
    db = ReadOnlyDatabase(db_path, timeout_s=1.0)
    result = db.execute(sql)
    db.close()
    assert not result.ok, f"{sql!r} should have been refused"
    assert _digest(db_path) == before
    # And the data are still all there.
    db = ReadOnlyDatabase(db_path)
    assert db.execute("SELECT COUNT(*) FROM employees").rows == ((4,),)
    db.close()


def test_runaway_recursive_cte_is_stopped_within_the_time_limit(db_path):
    db = ReadOnlyDatabase(db_path, timeout_s=0.5)
    start = time.monotonic()
    result = db.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n")
    elapsed = time.monotonic() - start
    assert result.error and result.error.startswith("timeout")
    assert elapsed < 2.0
    # The connection is usable afterwards.
    assert db.execute("SELECT COUNT(*) FROM departments").rows == ((3,),)
    db.close()


def test_row_cap(db_path):
    db = ReadOnlyDatabase(db_path, max_rows=10)
    result = db.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 50) SELECT x FROM n")
    assert result.error == "result exceeds the row cap of 10"
    assert db.execute("SELECT name FROM employees").ok
    db.close()


def test_reads_work(db_path):
    db = ReadOnlyDatabase(db_path)
    result = db.execute(
        "SELECT d.name, COUNT(*) FROM employees e JOIN departments d USING (department_id) "
        "GROUP BY d.name ORDER BY d.name"
    )
    assert result.columns == ("name", "COUNT(*)")
    assert result.rows == (("Engineering", 1), ("Sales", 2), ("Support", 1))
    db.close()


def test_missing_or_invalid_database_file(tmp_path):
    with pytest.raises(DataError, match="database not found"):
        ReadOnlyDatabase(tmp_path / "nope.sqlite")
    not_a_db = tmp_path / "gold.jsonl"
    not_a_db.write_text('{"input": "q"}\n' * 100)
    with pytest.raises(DataError, match="gold.jsonl: not a readable SQLite database"):
        ReadOnlyDatabase(not_a_db)


@pytest.mark.parametrize("sql", ["", "-- No employee earns that much.", "  ;  "])
def test_empty_or_comment_only_statement_is_not_a_result(db_path, sql):
    db = ReadOnlyDatabase(db_path)
    assert db.execute(sql).error
    db.close()


def test_huge_values_are_refused(db_path):
    db = ReadOnlyDatabase(db_path)
    result = db.execute("SELECT zeroblob(5000000) FROM employees")
    assert result.error and "too big" in result.error
    # printf cannot build a 300 MB string either: SQLite gives NULL past the length limit.
    assert db.execute("SELECT printf('%.*c', 300000000, 'x')").rows == ((None,),)
    db.close()
