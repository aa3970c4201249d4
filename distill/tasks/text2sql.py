"""Text2SQL: natural-language questions to SQLite queries, graded by executing them read-only."""

from __future__ import annotations

import random
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from distill.config import TaskConfig
from distill.examples import Example, read_examples
from distill.io import DataError, atomic_path, read_text, write_jsonl
from distill.tasks import text2sql_generation as gen
from distill.tasks.base import Problem, Score, Structure, Task
from distill.tasks.reply import final_answer
from distill.tasks.sql_compare import gold_is_ordered, results_match
from distill.tasks.sql_exec import QueryResult, ReadOnlyDatabase
from distill.tasks.sql_extract import extract_sql
from distill.tasks.sql_structure import sql_structure

__all__ = ["SQLOutcome", "Text2SQLTask", "extract_sql", "normalize_sql"]

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


_COMPARISONS = {
    TokenType.EQ,
    TokenType.NEQ,
    TokenType.LT,
    TokenType.LTE,
    TokenType.GT,
    TokenType.GTE,
    TokenType.LIKE,
    TokenType.GLOB,
}
_VALUE_AFTER = _COMPARISONS | {TokenType.THEN, TokenType.ELSE, TokenType.WHEN, TokenType.BETWEEN}


def single_quote_strings(sql: str, identifiers: set[str]) -> str:
    """`sql` with each double-quoted token that stands where a value goes, and names no table or
    column in `identifiers` (lower-case), written as a single-quoted string: what SQLite reads it
    as anyway (its "double-quoted string literal" quirk). A value position is either side of a
    comparison (=, <>, <, LIKE, GLOB, …), after THEN, ELSE, WHEN or BETWEEN, or an item of an IN
    list; elsewhere (an alias, `ORDER BY "k"`) a double-quoted token is a name, and so is every
    other use of the same name."""
    try:
        tokens = sqlglot.tokenize(sql, read="sqlite")
    except (SqlglotError, RecursionError):
        return sql
    in_list = []  # per open parenthesis: does it open an IN list?
    values, names = [], set(identifiers)
    for i, token in enumerate(tokens):
        kind = token.token_type
        if kind == TokenType.L_PAREN:
            in_list.append(i > 0 and tokens[i - 1].token_type == TokenType.IN)
        elif kind == TokenType.R_PAREN and in_list:
            in_list.pop()
        if kind != TokenType.IDENTIFIER or sql[token.start : token.start + 1] != '"':
            continue
        before = tokens[i - 1].token_type if i > 0 else None
        after = tokens[i + 1].token_type if i + 1 < len(tokens) else None
        in_in_list = bool(in_list) and in_list[-1] and before in (TokenType.L_PAREN, TokenType.COMMA)
        if before in _VALUE_AFTER or after in _COMPARISONS or in_in_list:
            values.append(token)
        else:  # an alias, a CTE, a qualified or selected name: every use of it is a name
            names.add(token.text.lower())
    rewrite = [token for token in values if token.text.lower() not in names]
    out, pos = [], 0
    for token in rewrite:
        out += [sql[pos : token.start], "'" + token.text.replace("'", "''") + "'"]
        pos = token.end + 1
    return "".join(out) + sql[pos:]


def _demonstrations_path(db: Path) -> Path:
    return db.with_name(f"{db.stem}.examples.jsonl")


def _iter_statements(path: Path):
    """Yield (first line number, statement) for each complete SQL statement in a script."""
    buffer, start = "", None
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        if start is None and line.strip() and not line.strip().startswith("--"):
            start = lineno
        buffer += line + "\n"
        if start is not None and sqlite3.complete_statement(buffer):
            yield start, buffer
            buffer, start = "", None
    if buffer.strip() and start is not None:
        yield start, buffer


# SQLite's error messages (and the executor's own) -> stable reject reasons for `validate`.
_REASONS = (
    ("timeout", "timeout"),
    ("result exceeds the row cap", "too_many_rows"),
    ("result too large", "result_too_large"),
    ("no such table", "unknown_table"),
    ("no such column", "unknown_column"),
    ("You can only execute one statement", "multiple_statements"),
    ("not authorized", "not_a_query"),
    ("not a query", "not_a_query"),
    ("syntax error", "parse_error"),
    ("incomplete input", "parse_error"),
    ("unrecognized token", "parse_error"),
)


def sqlite_reason(error: str) -> str:
    """The reject reason for an execution error message; `execution_error` for any other."""
    return next((code for needle, code in _REASONS if needle in error), "execution_error")


def _no_data(result: QueryResult) -> bool:
    """No rows, or only rows of NULLs (an aggregate over nothing): no answer to learn from."""
    return not result.rows or all(all(v is None for v in row) for row in result.rows)


@dataclass(frozen=True)
class SQLOutcome:
    """What a query returned, as grading compares it."""

    rows: tuple[tuple, ...]
    ordered: bool
    """The query's outermost SELECT has ORDER BY: row order is part of its answer."""


class Text2SQLTask(Task):
    """Each example names its database in `metadata.db`; databases live in `db_dir/<db>.sqlite`
    (or `db_dir/<db>/<db>.sqlite`), or one `db_file` serves every example."""

    name = "text2sql"
    generation_kinds = gen.KINDS
    one_seed_kinds = gen.ONE_SEED_KINDS
    question_only_kinds = gen.QUESTION_ONLY_KINDS

    def __init__(
        self,
        db_dir: str | Path | None = None,
        db_file: str | Path | None = None,
        timeout_s: float = 5.0,
        max_rows: int = 10_000,
        extra_db_dirs: tuple[Path, ...] = (),
        max_result_mb: float = 64.0,
    ):
        self.db_dir = Path(db_dir) if db_dir else None
        self.extra_db_dirs = tuple(Path(d) for d in extra_db_dirs)
        self.db_file = Path(db_file) if db_file else None
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_result_mb = max_result_mb
        self._dbs: dict[Path, ReadOnlyDatabase] = {}
        self._schemas: dict[Path, str] = {}
        self._demos: dict[Path, list[Example]] = {}
        self._columns: dict[Path, dict[str, set[str]]] = {}
        self._gold: dict[tuple[Path, str], QueryResult] = {}

    @classmethod
    def from_config(cls, config: TaskConfig, resources_dir: Path, extra_dirs: tuple[Path, ...] = ()) -> Text2SQLTask:
        return cls(
            db_dir=resources_dir,
            timeout_s=config.sql_timeout_s,
            max_rows=config.sql_max_rows,
            extra_db_dirs=extra_dirs,
            max_result_mb=config.sql_max_result_mb,
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
        checker = self._open(db)
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

    def _open(self, path: Path) -> ReadOnlyDatabase:
        return ReadOnlyDatabase(
            path, timeout_s=self.timeout_s, max_rows=self.max_rows, max_result_mb=self.max_result_mb
        )

    def _db(self, example: Example) -> ReadOnlyDatabase:
        path = self._db_path(example)
        if path not in self._dbs:
            self._dbs[path] = self._open(path)
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

    def _schema_columns(self, example: Example) -> dict[str, set[str]]:
        """Table -> its columns, lower-case, for the example's database."""
        path = self._db_path(example)
        if path not in self._columns:
            cols = self._db(example).columns()
            self._columns[path] = {t.lower(): {c.lower() for c in cs} for t, cs in cols.items()}
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
    def messages(self, example: Example, few_shot: bool = True) -> list[dict]:
        # Worked examples go in as earlier chat turns: small chat models imitate an assistant turn
        # far better than examples embedded in the system text, and the prefix stays cacheable.
        messages = [{"role": "system", "content": self.system_prompt(example)}]
        for demo in self.worked_examples(example) if few_shot else []:
            messages += [{"role": "user", "content": demo.input}, {"role": "assistant", "content": demo.output}]
        return messages + [{"role": "user", "content": example.input}]

    def extract(self, text: str, example: Example | None = None) -> str:
        """The query in `text` (distill/tasks/sql_extract.py); with `example`, among several
        candidates the first that compiles on its database wins."""
        if example is None:
            return extract_sql(text)
        try:
            db = self._db(example)
        except DataError:
            return extract_sql(text)
        return extract_sql(text, prepares=db.prepares)

    # -- validation and scoring -------------------------------------------------------------------
    # SQLite is the authority on validity: an answer is valid when it runs on the real database.
    # sqlglot is not consulted, since SQLite runs valid queries that sqlglot rejects (and the
    # reverse: "x" is a string literal to SQLite when no column x exists).

    repair_request = (
        "That query fails on the database: {problem}.\n"
        # Restating the question here made the 1.5B teacher repeat its failing query more often.
        "Write a corrected SQLite query for the question. Reply with the query only."
    )

    def answer_problem(self, text: str, example: Example) -> str | None:
        # SQLite's own message, as a user running the query would see it; the gold is not consulted.
        sql = self.extract(text, example)
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
                elif column in schema.get(table, set()):
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
        sql = self.extract(text, example)
        if not sql:
            return Score(prediction="", correct=False, valid=False, exact_match=False, error="no SQL found")
        result = self._db(example).execute(sql)
        gold = self.gold_result(example)
        correct = (
            result.ok
            and gold.ok
            and self.same_outcome(SQLOutcome(gold.rows, gold_is_ordered(example.output)), self._outcome(result, sql))
        )
        gold_norm = normalize_sql(example.output)
        exact = gold_norm is not None and normalize_sql(sql) == gold_norm
        return Score(prediction=sql, correct=correct, valid=result.ok, exact_match=exact, error=result.error)

    def answer_outcome(self, output: str, example: Example) -> SQLOutcome | None:
        """The rows `output` returns on the example's database; None when it does not run."""
        if not output.strip():
            return None
        try:
            result = self._db(example).execute(output)
        except DataError:
            return None
        return self._outcome(result, output) if result.ok else None

    @staticmethod
    def _outcome(result: QueryResult, sql: str) -> SQLOutcome:
        return SQLOutcome(result.rows, gold_is_ordered(sql))

    def same_outcome(self, reference: SQLOutcome, candidate: SQLOutcome) -> bool:
        """Grading's one equality rule (distill/tasks/sql_compare.py), with `reference` in the gold's
        place: its ORDER BY decides whether row order counts."""
        return results_match(reference.rows, candidate.rows, reference.ordered)

    def outcomes_agree(self, a: SQLOutcome, b: SQLOutcome) -> bool:
        """`same_outcome` between two answers: row order counts only when both order their rows."""
        return results_match(a.rows, b.rows, a.ordered and b.ordered)

    def canonical_output(self, output: str, example: Example) -> str:
        """`output` with its double-quoted string literals single-quoted (`city = "Berlin"` runs in
        SQLite only because no column is named Berlin; a student should not learn that). Kept as
        written unless the rewrite returns the same result."""
        names = {n for table, cols in self._schema_columns(example).items() for n in (table, *cols)}
        rewritten = single_quote_strings(output, names)
        if rewritten == output:
            return output
        before, after = self.answer_outcome(output, example), self.answer_outcome(rewritten, example)
        if before is None or after is None or not self.same_outcome(before, after):
            return output
        return rewritten

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
        text = final_answer(text)
        if text is None:
            return []
        seed = seeds[0]
        db = seed.metadata.get("db", "")
        if kind == "schema_substitution":
            ddl = gen.invented_ddl(text)
            if ddl is None:
                return []
            db, error = gen.build_invented_database(ddl, workspace)
            if error:
                return []
        propose_sql = kind not in gen.QUESTION_ONLY_KINDS
        return gen.candidates_from_objects(gen.json_objects(text), kind, seed, db, propose_sql=propose_sql)

    def precheck(self, candidate: Example) -> Problem | None:
        """A proposed query is answered only if SQLite compiles it against the candidate's
        database as one read-only statement (else `unsafe`, `unknown_table`, `unknown_column`,
        `parse_error`, …) and it returns data: validation rejects an empty result whatever the
        answers say (README, "Empty results"). Questions without a proposal pass."""
        sql = candidate.output
        if not sql.strip():
            return None
        try:
            db = self._db(candidate)
        except DataError as e:
            return Problem("unknown_database", str(e))
        error = db.compile_error(sql)
        if error is not None:
            unsafe = any(s in error for s in ("not authorized", "not a query", "one statement"))
            return Problem("unsafe" if unsafe else sqlite_reason(error), error)
        result = db.execute(sql)
        if not result.ok:
            return Problem(sqlite_reason(result.error or ""), result.error or "")
        if _no_data(result):
            return Problem("empty_result", "the proposed query returns no data")
        return None

    def structure(self, output: str, example: Example) -> Structure | None:
        try:
            schema = self._schema_columns(example)
        except DataError:
            return None
        return sql_structure(output, schema)

    def context(self, example: Example) -> str:
        return example.metadata.get("db", "")

    def schema_sources(self, example: Example) -> frozenset[str]:
        try:
            return frozenset(self._schema_columns(example))
        except DataError:
            return frozenset()

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
        result = self._db(example).execute(sql)
        if not result.ok:
            return [Problem(sqlite_reason(result.error or ""), result.error or "")]
        if _no_data(result):
            return [Problem("empty_result", "the query returns no data")]
        return []

    def normalize_output(self, output: str) -> str:
        return normalize_sql(output) or " ".join(output.split())

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()
