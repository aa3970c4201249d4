"""Text2SQL synthetic data: the teacher prompts for each kind, parsing what comes back, and the
databases the teacher invents for `schema_substitution`.

The prompts follow the seed document: the schema, the requirements, a few examples, and a JSONL
output format. Small teachers answer that format loosely (fences, prose, objects split across
lines), so objects are decoded wherever they appear in the text.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sqlite3
from pathlib import Path

from distill.examples import DIFFICULTIES, Example
from distill.tasks.base import json_objects  # noqa: F401 - shared with the code task; used by text2sql.py

GENERATION_SYSTEM = """You write training data for a model that turns questions into SQLite queries.

Database schema:
{schema}"""

_PAIR_FORMAT = '{"question": "...", "sql": "..."}'
_REQUIREMENTS = """Requirements:
- Use only the tables and columns in the schema; join on the REFERENCES keys.
- Each question is answered by one SQLite SELECT query; dates are TEXT 'YYYY-MM-DD'.
- Questions sound like a business user, name concrete values, and say which columns to return."""

_PROMPTS = {
    "novel": """Example questions with their SQLite queries:
{examples}

Write {count} NEW questions about this database, different from the examples, with varied difficulty \
(lookups, filters, joins, aggregates, dates), each with the SQLite query that answers it.
{requirements}
Output one JSON object per line and nothing else:
{pair_format}""",
    "direct": """Example questions:
{questions}

Write {count} NEW questions about this database, different from the examples, with varied difficulty \
(lookups, filters, joins, aggregates, dates). Do not answer them.
{requirements}
Output one JSON object per line and nothing else:
{{"question": "..."}}""",
    "paraphrase": """Question: {question}
SQLite query: {sql}

Rewrite the question in {count} different ways. Each rewrite must keep exactly the same meaning, so the same \
query still answers it: vary the wording, the sentence structure and the tone.
Output one JSON object per line and nothing else:
{{"question": "..."}}""",
    "complexity": """Question: {question}
SQLite query: {sql}

Write {count} variants of this question: some simpler (drop a condition, a join or a grouping) and some harder \
(add a join, a filter, a grouping, an ordering or a date condition), each with its SQLite query.
{requirements}
Output one JSON object per line and nothing else:
{pair_format}""",
    "schema_substitution": """Example questions with their SQLite queries on the database above:
{examples}

Invent a small database for a different business (a library, a clinic, a gym, a school, a garage...): \
3 or 4 tables, each with an INTEGER PRIMARY KEY named <table>_id, foreign keys with REFERENCES, and dates as \
TEXT 'YYYY-MM-DD'. Write its CREATE TABLE statements in one ```sql block. Then write {count} questions about \
YOUR new database that follow the patterns of the examples, each with its SQLite query.
Output the pairs as one JSON object per line:
{pair_format}""",
}
KINDS = tuple(_PROMPTS)
"""The generation kinds this task can prompt for: one teacher prompt each. `generate.mix` gives
each a share; a kind with a share > 0 that is not here is a param error."""
ONE_SEED_KINDS = ("paraphrase", "complexity")
"""Kinds that rework one seed; the others are shown a few seeds."""
QUESTION_ONLY_KINDS = ("direct",)
"""Kinds whose candidates come without a proposed answer: the teacher's vote labels them."""


def _jsonl(examples: list[Example], with_sql: bool = True) -> str:
    rows = []
    for ex in examples:
        row = {"question": ex.input}
        if with_sql:
            row["sql"] = ex.output
        rows.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(rows)


def proposal_user_prompt(kind: str, seeds: list[Example], count: int) -> str:
    seed = seeds[0]
    return _PROMPTS[kind].format(
        examples=_jsonl(seeds),
        questions=_jsonl(seeds, with_sql=False),
        question=seed.input,
        sql=seed.output,
        count=count,
        requirements=_REQUIREMENTS,
        pair_format=_PAIR_FORMAT,
    )


def pick_seeds(kind: str, seeds: list[Example], rng: random.Random) -> list[Example]:
    """One seed for the per-question kinds, a few from one database for the others."""
    by_db: dict[str, list[Example]] = {}
    for ex in seeds:
        by_db.setdefault(ex.metadata.get("db", ""), []).append(ex)
    pool = by_db[rng.choice(sorted(by_db))]
    if kind in ONE_SEED_KINDS:
        return [rng.choice(pool)]
    return rng.sample(pool, min(4, len(pool)))


_CREATE_TABLE = re.compile(r"CREATE\s+TABLE\b.*?\)\s*;", re.IGNORECASE | re.DOTALL)


def candidates_from_objects(objects: list[dict], kind: str, seed: Example, db: str, propose_sql: bool) -> list[Example]:
    out = []
    for obj in objects:
        question = obj.get("question")
        if not isinstance(question, str) or not question.strip():
            continue
        sql = obj.get("sql") if propose_sql else None
        if kind == "paraphrase":
            sql = seed.output  # the paraphrase must keep the seed's answer; self-consistency checks it did
        # A claim the teacher volunteers is kept only until the answer's structure replaces it.
        difficulty = obj.get("difficulty") if obj.get("difficulty") in DIFFICULTIES else seed.difficulty
        out.append(
            Example(
                input=" ".join(question.split()),
                output=sql.strip() if isinstance(sql, str) else "",
                metadata={"db": db, "kind": kind, "difficulty": difficulty, "parent": seed.id},
            )
        )
    return out


def invented_ddl(text: str) -> str | None:
    """The CREATE TABLE statements of a schema_substitution response, or None."""
    statements = _CREATE_TABLE.findall(text)
    return "\n".join(statements) if statements else None


def build_invented_database(
    ddl: str, workspace: Path, rows_per_table: int = 40, seed: int = 0
) -> tuple[str, str | None]:
    """Execute teacher-written DDL in a fresh SQLite file and fill it with plausible rows.

    Returns (database name, error). The name is a hash of the DDL, so a re-run maps the same schema
    to the same file. Foreign keys point at existing parent rows, so joins return data.
    """
    name = "invented_" + hashlib.sha256(ddl.encode()).hexdigest()[:10]
    target = workspace / f"{name}.sqlite"
    if target.exists():
        return name, None
    workspace.mkdir(parents=True, exist_ok=True)
    tmp = workspace / f".{name}.tmp"
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        try:
            conn.executescript(ddl)
        except sqlite3.Error as e:
            return name, f"DDL does not run: {e}"
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if not tables:
            return name, "DDL creates no table"
        _fill(conn, tables, rows_per_table, random.Random(seed))
        conn.commit()
    finally:
        conn.close()
    tmp.replace(target)
    return name, None


_WORDS = ["alpha", "bravo", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "juniper", "koala", "lotus"]
_CITIES = ["Paris", "Berlin", "Madrid", "Rome", "London", "Lisbon", "Vienna", "Oslo"]


def _value(column: str, declared: str, row: int, rng: random.Random):
    col, typ = column.lower(), declared.upper()
    if "date" in col or col.endswith("_at") or "time" in col:
        return f"{rng.randint(2022, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if "email" in col:
        return f"user{row}@example.com"
    if "INT" in typ:
        return rng.randint(1, 5) if any(w in col for w in ("rating", "level", "score")) else rng.randint(1, 100)
    if any(t in typ for t in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return round(rng.uniform(1, 500), 2)
    if "city" in col:
        return rng.choice(_CITIES)
    if any(w in col for w in ("status", "type", "category", "kind", "country", "genre", "department")):
        return f"{col}_{rng.randint(1, 4)}"  # a small domain, so GROUP BY and WHERE have something to find
    return f"{rng.choice(_WORDS).title()} {row}"


def _fill(conn: sqlite3.Connection, tables: list[str], rows: int, rng: random.Random) -> None:
    parents = {t: {r[3]: (r[2], r[4]) for r in conn.execute(f'PRAGMA foreign_key_list("{t}")')} for t in tables}
    # Parents first, so every foreign key can point at a real row (cycles fall back to NULL-free ids).
    order = []
    while len(order) < len(tables):
        ready = [t for t in tables if t not in order and all(p[0] in order or p[0] == t for p in parents[t].values())]
        order += ready or [t for t in tables if t not in order]
    for table in order:
        columns = list(conn.execute(f'PRAGMA table_info("{table}")'))
        for i in range(1, rows + 1):
            values = []
            for _, col, declared, _notnull, _default, pk in columns:
                if pk:
                    values.append(i)
                elif col in parents[table]:
                    values.append(rng.randint(1, rows))
                else:
                    values.append(_value(col, declared or "", i, rng))
            names = ", ".join(f'"{c[1]}"' for c in columns)
            marks = ", ".join("?" for _ in columns)
            try:
                conn.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', values)
            except sqlite3.Error:
                continue  # a CHECK or UNIQUE the generator cannot guess; fewer rows is fine
