"""Read-only, time-limited execution of untrusted SQL against a SQLite file.

Three independent guards, so one mistake cannot open the database to writes:
1. the file is opened with `mode=ro`;
2. an authorizer allows only reads (SELECT, READ, FUNCTION, RECURSIVE) and denies writes, DDL,
   ATTACH, PRAGMA, transactions and every other side effect;
3. a progress handler aborts any statement past its wall-clock deadline; a row cap, a cap on each
   value and a cap on the whole result's bytes (checked row by row while fetching) bound what is
   held in memory, so one runaway answer fails alone instead of taking the run down.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from distill.io import DataError

_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
# Functions with side effects or that reach outside the database.
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
# Progress handler granularity, in SQLite VM instructions: small enough to stop within ms.
_PROGRESS_STEPS = 1_000
_MAX_VALUE_BYTES = 1_000_000
_NUMBER_BYTES = 8
MB = 1_000_000


def _value_bytes(value) -> int:
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", errors="replace"))
    return 0 if value is None else _NUMBER_BYTES


def _row_bytes(row: tuple) -> int:
    """Payload bytes of one result row: text (UTF-8) and blobs by length, numbers 8, NULL 0."""
    return sum(map(_value_bytes, row))


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...] = ()
    rows: tuple[tuple, ...] = ()
    error: str | None = None
    """None on success; otherwise why the query did not produce a usable result."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def _authorizer(action, arg1, arg2, db_name, trigger):
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


class ReadOnlyDatabase:
    """One SQLite file, opened read-only; `execute` runs one untrusted statement safely."""

    def __init__(self, path: str | Path, timeout_s: float = 5.0, max_rows: int = 10_000, max_result_mb: float = 64.0):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"database not found: {self.path}")
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_result_bytes = int(max_result_mb * MB)
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._deadline = 0.0
        self._conn.set_progress_handler(self._over_time, _PROGRESS_STEPS)
        self._conn.set_authorizer(_authorizer)
        # Bound any single value (e.g. printf('%.*c', 300000000, 'x')) so results fit in memory.
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, _MAX_VALUE_BYTES)
        try:
            self._conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.DatabaseError as e:
            self._conn.close()
            raise DataError(f"{self.path}: not a readable SQLite database ({e})") from None

    def _over_time(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def execute(self, sql: str) -> QueryResult:
        start = time.monotonic()
        self._deadline = start + self.timeout_s
        cursor = None
        try:
            cursor = self._conn.execute(sql)
            if cursor.description is None:  # an empty statement or a comment: nothing was asked
                return QueryResult(error="not a query: it returns no result", seconds=time.monotonic() - start)
            columns = tuple(d[0] for d in cursor.description)
            rows, size = [], 0
            # Row by row: a value is at most 1 MB, so memory never runs more than one row past the cap.
            for row in cursor:
                size += _row_bytes(row)
                if size > self.max_result_bytes:
                    return QueryResult(
                        error=f"result too large: over the {self.max_result_bytes / MB:g} MB cap on a result",
                        seconds=time.monotonic() - start,
                    )
                rows.append(row)
                if len(rows) > self.max_rows:
                    break
        except sqlite3.OperationalError as e:
            msg = str(e)
            if msg == "interrupted":
                msg = f"timeout: query ran longer than {self.timeout_s:g}s"
            return QueryResult(error=msg, seconds=time.monotonic() - start)
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError) as e:
            # ProgrammingError (a sqlite3.Error): "You can only execute one statement at a time."
            return QueryResult(error=str(e), seconds=time.monotonic() - start)
        except MemoryError:  # a tighter memory limit than the byte cap assumes: still this answer's failure
            return QueryResult(error="result too large: out of memory while fetching", seconds=time.monotonic() - start)
        finally:
            if cursor is not None:
                cursor.close()
            if self._conn.in_transaction:
                self._conn.rollback()
        seconds = time.monotonic() - start
        if len(rows) > self.max_rows:
            return QueryResult(error=f"result exceeds the row cap of {self.max_rows}", seconds=seconds)
        return QueryResult(columns=columns, rows=tuple(tuple(r) for r in rows), seconds=seconds)

    def prepares(self, sql: str) -> bool:
        """Whether SQLite compiles `sql` against this database (names resolve, one read-only
        statement); nothing is run."""
        return self.compile_error(sql) is None

    def compile_error(self, sql: str) -> str | None:
        """SQLite's error compiling `sql` against this database (an unknown table or column, a
        syntax error, a second statement, a write refused by the authorizer), or None when it
        compiles; nothing is run."""
        self._deadline = time.monotonic() + self.timeout_s
        try:
            self._conn.execute("EXPLAIN " + sql).close()
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, MemoryError, RecursionError) as e:
            return str(e) or type(e).__name__
        finally:
            if self._conn.in_transaction:
                self._conn.rollback()
        return None

    def schema_ddl(self) -> list[tuple[str, str]]:
        """(table name, CREATE statement) for every user table, in creation order."""
        self._deadline = time.monotonic() + self.timeout_s
        rows = self._conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
        return [(name, sql) for name, sql in rows]

    def columns(self) -> dict[str, list[str]]:
        """Table name -> column names, read through the same read-only connection."""
        self._deadline = time.monotonic() + self.timeout_s
        tables = [name for name, _ in self.schema_ddl()]
        out = {}
        for table in tables:
            cur = self._conn.execute(f'SELECT * FROM "{table}" LIMIT 0')
            out[table] = [d[0] for d in cur.description]
            cur.close()
        return out

    def close(self) -> None:
        self._conn.close()
