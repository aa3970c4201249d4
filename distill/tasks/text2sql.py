"""Text2SQL: natural-language questions to SQLite queries, graded by executing them read-only."""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Hashable
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify

from distill.config import TaskConfig
from distill.examples import Example, read_examples
from distill.io import DataError, atomic_path, write_jsonl
from distill.tasks import text2sql_generation as gen
from distill.tasks.base import Problem, Score, Task
from distill.tasks.sql_compare import gold_is_ordered, results_match
from distill.tasks.sql_exec import QueryResult, ReadOnlyDatabase

SYSTEM_PROMPT = """You are an expert SQLite analyst. Write one SQLite query that answers the user's question \
over the database below.
- Use only the tables and columns in the schema, and check which table each column belongs to.
- Join only the tables the question needs, on the keys given by REFERENCES; \
every alias you use must be defined in FROM or JOIN.
- Dates are TEXT 'YYYY-MM-DD': use strftime('%Y', ...), BETWEEN or julianday(), never YEAR(), MONTH() or DATEDIFF().
- SQLite divides integers as integers: write 100.0 * part / total for percentages and averages of counts.
- Return exactly the columns the question asks for, each row once, and round only when it asks.
- Answer with the SQL query only, no explanation.

Database schema:
{schema}"""

_NO_COLUMN = re.compile(r"no such column: (?:(\w+)\.)?(\w+)")
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_SQL_START = re.compile(r"\b(SELECT|WITH)\b", re.IGNORECASE)
# A one-line fence (```sql SELECT 1```) or inline code (`SELECT 1`).
_INLINE_FENCE = re.compile(r"```(?:sql|sqlite)?[ \t]*([^`\n]+?)[ \t]*```|`([^`\n]+)`", re.IGNORECASE)


def _cut_statement(text: str) -> str:
    """One statement from `text`: up to the first blank line, and the first `;` outside a string."""
    # Prose after the query usually follows a blank line; SQL from these models has none inside.
    text = re.split(r"\n[ \t]*\n", text, maxsplit=1)[0]
    for m in re.finditer(";", text):
        if sqlite3.complete_statement(text[: m.end()]):
            text = text[: m.start()]
            break
    return text.strip().rstrip(";").strip().strip("`").strip()


def _parses(sql: str) -> bool:
    try:
        return isinstance(sqlglot.parse_one(sql, read="sqlite"), exp.Query)
    except (SqlglotError, RecursionError):
        return False


def extract_sql(text: str) -> str:
    """The first SQL query in model text: fenced code preferred, prose, backticks and `;` trimmed.

    Prose may itself contain "select" or "with" ("To select the names, run: …"), so every
    candidate start is tried and the first that parses as a query wins; if none parses, the first
    candidate is returned so the grader can report why it fails.
    """
    text = text.strip()
    fences = _FENCE.findall(text)
    if fences:
        sql_fences = [body for lang, body in fences if lang.lower() in ("sql", "sqlite")]
        text = (sql_fences or [body for _, body in fences])[0].strip()
    inline = [m.group(1) or m.group(2) for m in _INLINE_FENCE.finditer(text)]
    inline_sql = [code for code in inline if _SQL_START.match(code.strip())]
    if inline_sql:
        text = inline_sql[0]
    candidates = [_cut_statement(text[m.start() :]) for m in _SQL_START.finditer(text)]
    for candidate in candidates:
        if _parses(candidate):
            return candidate
    return candidates[0] if candidates else _cut_statement(text)


def _query_sources(sql: str) -> dict[str, str] | None:
    """Table alias or name -> table name, for every table and CTE in `sql`; None if it does not parse."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (SqlglotError, RecursionError):
        return None
    sources = {cte.alias_or_name.lower(): cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.name:
            sources[table.alias_or_name.lower()] = table.name.lower()
            sources.setdefault(table.name.lower(), table.name.lower())
    return sources


def normalize_sql(sql: str) -> str | None:
    """sqlglot's canonical SQLite rendering (keywords upper, identifiers lower), or None if unparsable."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (SqlglotError, RecursionError):  # RecursionError: degenerate output like "((((…"
        return None
    try:
        return tree.sql(dialect="sqlite", normalize=True, comments=False)
    except Exception:  # noqa: BLE001 - sqlglot's generator can crash on odd model output (KeyError on bad DDL)
        return None


def _demonstrations_path(db: Path) -> Path:
    return db.with_name(f"{db.stem}.examples.jsonl")


def _iter_statements(path: Path):
    """Yield (first line number, statement) for each complete SQL statement in a script."""
    buffer, start = "", None
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if start is None and line.strip() and not line.strip().startswith("--"):
            start = lineno
        buffer += line + "\n"
        if start is not None and sqlite3.complete_statement(buffer):
            yield start, buffer
            buffer, start = "", None
    if buffer.strip() and start is not None:
        yield start, buffer


_REASON_CODES = (
    ("parse error", "parse_error"),
    ("empty", "empty_output"),
    ("expected one statement", "multiple_statements"),
    ("not a query", "not_a_query"),
    ("unknown table", "unknown_table"),
    ("schema", "unknown_column"),
)
"""Stable reject reasons for `validate` messages, by prefix."""


class Text2SQLTask(Task):
    """Each example names its database in `metadata.db`; databases live in `db_dir/<db>.sqlite`
    (or `db_dir/<db>/<db>.sqlite`), or one `db_file` serves every example."""

    name = "text2sql"
    generation_kinds = gen.KINDS

    def __init__(
        self,
        db_dir: str | Path | None = None,
        db_file: str | Path | None = None,
        timeout_s: float = 5.0,
        max_rows: int = 10_000,
        extra_db_dirs: tuple[Path, ...] = (),
    ):
        self.db_dir = Path(db_dir) if db_dir else None
        self.extra_db_dirs = tuple(Path(d) for d in extra_db_dirs)
        self.db_file = Path(db_file) if db_file else None
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self._dbs: dict[Path, ReadOnlyDatabase] = {}
        self._schemas: dict[Path, str] = {}
        self._demos: dict[Path, list[Example]] = {}
        self._columns: dict[Path, dict[str, dict[str, str]]] = {}
        self._gold: dict[tuple[Path, str], QueryResult] = {}

    @classmethod
    def from_config(cls, config: TaskConfig, resources_dir: Path, extra_dirs: tuple[Path, ...] = ()) -> Text2SQLTask:
        return cls(
            db_dir=resources_dir, timeout_s=config.sql_timeout_s, max_rows=config.sql_max_rows, extra_db_dirs=extra_dirs
        )

    # -- resources -------------------------------------------------------------------------------
    def build_resources(self, source_dir: Path, out_dir: Path) -> dict:
        """Build `<out_dir>/<db>.sqlite` from each `<source_dir>/<db>/schema.sql` (+ `data.sql`), plus the
        worked examples shown in the prompt from `<db>/examples.jsonl` if present."""
        source_dir, out_dir = Path(source_dir), Path(out_dir)
        db_sources = sorted(p.parent for p in source_dir.glob("*/schema.sql"))
        if not db_sources:
            raise DataError(f"{source_dir}: no database found; expected <name>/schema.sql folders")
        out_dir.mkdir(parents=True, exist_ok=True)
        summary = {}
        for folder in db_sources:
            target = out_dir / f"{folder.name}.sqlite"
            with atomic_path(target) as tmp:
                conn = sqlite3.connect(tmp)
                try:
                    for script in (folder / "schema.sql", folder / "data.sql"):
                        if script.exists():
                            self._run_script(conn, script)
                    conn.commit()
                    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                    rows = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
                finally:
                    conn.close()
            summary[folder.name] = rows
            demos = folder / "examples.jsonl"
            if demos.exists():
                self._copy_demonstrations(demos, target)
        return summary

    def _copy_demonstrations(self, source: Path, db: Path) -> None:
        """Check the worked examples shown in the prompt (each must run), then store them beside the db."""
        demos = read_examples(source)
        checker = ReadOnlyDatabase(db, timeout_s=self.timeout_s, max_rows=self.max_rows)
        try:
            for demo in demos:
                result = checker.execute(demo.output)
                if not result.ok:
                    raise DataError(f"{demo.source}: example SQL fails: {result.error}")
        finally:
            checker.close()
        write_jsonl(_demonstrations_path(db), [{"input": d.input, "output": d.output} for d in demos])

    @staticmethod
    def _run_script(conn: sqlite3.Connection, script: Path) -> None:
        for lineno, statement in _iter_statements(script):
            try:
                conn.execute(statement)
            except sqlite3.Error as e:
                raise DataError(f"{script}:{lineno}: {e}") from None

    def _db_path(self, example: Example) -> Path:
        if self.db_file is not None:
            return self.db_file
        name = example.metadata.get("db")
        if not name:
            raise DataError(f"example {example.id!r}: metadata.db is required to pick a database")
        if self.db_dir is None:
            raise DataError("no database given: pass a database file or a folder of databases")
        for folder in (self.db_dir, *self.extra_db_dirs):
            for candidate in (folder / f"{name}.sqlite", folder / name / f"{name}.sqlite"):
                if candidate.is_file():
                    return candidate
        raise DataError(f"example {example.id!r}: database {name!r} not found as {self.db_dir}/{name}.sqlite")

    def _db(self, example: Example) -> ReadOnlyDatabase:
        path = self._db_path(example)
        if path not in self._dbs:
            self._dbs[path] = ReadOnlyDatabase(path, timeout_s=self.timeout_s, max_rows=self.max_rows)
        return self._dbs[path]

    def system_prompt(self, example: Example) -> str:
        """Short SQLite rules and the compact schema of the example's database."""
        return SYSTEM_PROMPT.format(schema=self.schema_text(example))

    def worked_examples(self, example: Example) -> list[Example]:
        """The database's worked examples (from `<db>/examples.jsonl`), shown before the question."""
        path = self._db_path(example)
        if path not in self._demos:
            demos_path = _demonstrations_path(path)
            self._demos[path] = read_examples(demos_path) if demos_path.is_file() else []
        return self._demos[path]

    def schema_text(self, example: Example) -> str:
        """The database's DDL, whitespace compacted, comments kept (they carry value domains)."""
        path = self._db_path(example)
        if path not in self._schemas:
            ddl = self._db(example).schema_ddl()
            lines = []
            for _, sql in ddl:
                for line in sql.splitlines():
                    if line.strip():
                        lines.append(("  " if line[:1].isspace() else "") + " ".join(line.split()))
                lines[-1] += ";"
            self._schemas[path] = "\n".join(lines)
        return self._schemas[path]

    def _schema_columns(self, example: Example) -> dict[str, dict[str, str]]:
        path = self._db_path(example)
        if path not in self._columns:
            cols = self._db(example).columns()
            self._columns[path] = {t.lower(): {c.lower(): "TEXT" for c in cs} for t, cs in cols.items()}
        return self._columns[path]

    def gold_result(self, example: Example) -> QueryResult:
        key = (self._db_path(example), example.output)
        if key not in self._gold:
            self._gold[key] = self._db(example).execute(example.output)
        return self._gold[key]

    def check_example(self, example: Example, where: str) -> None:
        try:
            result = self.gold_result(example)
        except DataError as e:
            raise DataError(f"{where}: {e}") from None
        if not result.ok:
            raise DataError(f"{where}: gold SQL fails: {result.error}\n  SQL: {example.output}")

    # -- prompting and extraction -----------------------------------------------------------------
    def messages(self, example: Example) -> list[dict]:
        # Worked examples go in as earlier chat turns: small chat models imitate an assistant turn
        # far better than examples embedded in the system text, and the prefix stays cacheable.
        messages = [{"role": "system", "content": self.system_prompt(example)}]
        for demo in self.worked_examples(example):
            messages += [{"role": "user", "content": demo.input}, {"role": "assistant", "content": demo.output}]
        return messages + [{"role": "user", "content": example.input}]

    def extract(self, text: str) -> str:
        return extract_sql(text)

    # -- validation and scoring -------------------------------------------------------------------
    def validate(self, sql: str, example: Example) -> list[str]:
        """Static checks with sqlglot (SQLite dialect): one SELECT statement over existing tables/columns."""
        if not sql.strip():
            return ["empty: no SQL found in the output"]
        try:
            trees = [t for t in sqlglot.parse(sql, read="sqlite") if t is not None]
        except SqlglotError as e:
            return [f"parse error: {str(e).splitlines()[0]}"]
        except RecursionError:
            return ["parse error: nested too deeply"]
        if len(trees) != 1:
            return [f"expected one statement, found {len(trees)}"]
        tree = trees[0]
        if not isinstance(tree, exp.Query):
            return [f"not a query: {tree.key.upper()} statements are not allowed"]
        schema = self._schema_columns(example)
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        problems = [
            f"unknown table: {t.name}"
            for t in tree.find_all(exp.Table)
            if t.name and t.name.lower() not in schema and t.name.lower() not in ctes
        ]
        if problems:
            return problems
        try:
            qualify(tree.copy(), schema=schema, dialect="sqlite", validate_qualify_columns=True)
        except (OptimizeError, ParseError) as e:
            return [f"schema: {str(e).splitlines()[0]}"]
        except (SqlglotError, RecursionError):
            pass  # sqlglot cannot reason about this query; execution decides
        return []

    repair_request = (
        "That query fails on the database: {problem}.\n"
        # Restating the question here made the 1.5B teacher repeat its failing query more often.
        "Write a corrected SQLite query for the question. Reply with the query only."
    )

    def answer_problem(self, text: str, example: Example) -> str | None:
        # SQLite's own message, as a user running the query would see it; the gold is not consulted.
        sql = self.extract(text)
        if not sql:
            return "no SQL query found in the answer"
        error = self._db(example).execute(sql).error
        if error is None:
            return None
        hint = self._schema_hint(error, sql, example)
        return f"{error} ({hint})" if hint else error

    def _schema_hint(self, error: str, sql: str, example: Example) -> str:
        """Where the schema has what the error says is missing: small models repeat a failing query
        when told only "no such column", and fix it when told which table holds the column."""
        schema = self._schema_columns(example)
        if match := _NO_COLUMN.match(error):
            qualifier, column = match.group(1), match.group(2).lower()
            hints = []
            if qualifier and (sources := _query_sources(sql)) is not None:
                table = sources.get(qualifier.lower())
                if table is None:
                    hints.append(f"{qualifier} is not a table or alias in the query's FROM or JOIN")
                elif column in schema.get(table, {}):
                    hints.append(f"{qualifier} is defined in another part of the query than where it is used")
                else:
                    hints.append(f"{table} has no column {column}")
            owners = sorted(t for t, cols in schema.items() if column in cols)
            hints.append(
                f"{column} is a column of {', '.join(owners)}" if owners else f"no table has a column {column}"
            )
            return "; ".join(hints)
        if error.startswith("no such table:"):
            return f"the tables are {', '.join(sorted(schema))}"
        return ""

    def score(self, text: str, example: Example) -> Score:
        sql = self.extract(text)
        if not sql:
            return Score(prediction="", correct=False, valid=False, exact_match=False, error="no SQL found")
        problems = self.validate(sql, example)
        result = self._db(example).execute(sql)
        gold = self.gold_result(example)
        correct = result.ok and gold.ok and results_match(gold.rows, result.rows, gold_is_ordered(example.output))
        gold_norm = normalize_sql(example.output)
        exact = gold_norm is not None and normalize_sql(sql) == gold_norm
        error = result.error or ("; ".join(problems) if problems else None)
        return Score(prediction=sql, correct=correct, valid=result.ok and not problems, exact_match=exact, error=error)

    # -- synthetic data -----------------------------------------------------------------------------
    def pick_seeds(self, kind: str, pool: list[Example], rng: random.Random) -> list[Example]:
        return gen.pick_seeds(kind, pool, rng)  # all seeds of one call come from one database

    def proposal_messages(self, kind: str, seeds: list[Example], count: int) -> list[dict]:
        schema = self.schema_text(seeds[0])
        return [
            {"role": "system", "content": gen.GENERATION_SYSTEM.format(schema=schema)},
            {"role": "user", "content": gen.proposal_user_prompt(kind, seeds, count)},
        ]

    def parse_proposals(self, text: str, kind: str, seeds: list[Example], workspace: Path) -> list[Example]:
        seed = seeds[0]
        db = seed.metadata.get("db", "")
        if kind == "schema_substitution":
            ddl = gen.invented_ddl(text)
            if ddl is None:
                return []
            db, error = gen.build_invented_database(ddl, workspace)
            if error:
                return []
        return gen.candidates_from_objects(gen.json_objects(text), kind, seed, db, propose_sql=kind != "direct")

    def answer_signature(self, output: str, example: Example) -> Hashable | None:
        if not output.strip():
            return None
        try:
            result = self._db(example).execute(output)
        except DataError:
            return None
        if not result.ok:
            return None
        # A multiset of rows with floats rounded: answers that agree up to row order vote together.
        rows = [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in result.rows]
        return tuple(sorted(rows, key=repr))

    def show_answer(self, output: str, example: Example, max_rows: int = 20) -> str:
        """The query's result, run read-only like any generated SQL, as an aligned table."""
        if not output.strip():
            return "(no SQL in the answer)"
        try:
            result = self._db(example).execute(output)
        except DataError as e:
            return f"error: {e}"
        if not result.ok:
            return f"error: {result.error}"
        import pandas as pd

        table = pd.DataFrame(list(result.rows[:max_rows]), columns=list(result.columns))
        more = len(result.rows) - max_rows
        text = table.to_string(index=False) if len(table) else "(no rows)"
        return text + (f"\n… {more} more rows" if more > 0 else "") + f"\n({len(result.rows)} rows)"

    def problems(self, example: Example) -> list[Problem]:
        sql = example.output
        try:
            self._db_path(example)
        except DataError as e:
            return [Problem("unknown_database", str(e))]
        if not sql.strip():
            return [Problem("empty_output", "no SQL")]
        found = [Problem.from_message(p, _REASON_CODES, "invalid_sql") for p in self.validate(sql, example)]
        if found:
            return found
        result = self._db(example).execute(sql)
        if not result.ok:
            error = result.error or ""
            code = (
                "timeout"
                if error.startswith("timeout")
                else "too_many_rows"
                if "row cap" in error
                else "execution_error"
            )
            return [Problem(code, result.error or "")]
        if not result.rows or all(all(v is None for v in row) for row in result.rows):
            return [Problem("empty_result", "the query returns no data")]
        return []

    def normalize_output(self, output: str) -> str:
        return normalize_sql(output) or " ".join(output.split())

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()
