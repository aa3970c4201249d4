"""Gold against gold, in every wrapper a model reply comes in: each seed's own answer, wrapped in the
formats of real replies (alone and in pairs), must grade correct and valid. For SQL: every gold of
data/seeds/text2sql/seeds.jsonl; for code: every gold solution of data/seeds/code/seeds.jsonl."""

from __future__ import annotations

import io
import itertools
import tokenize
from collections.abc import Callable

import pytest
import sqlglot
from sqlglot.tokens import TokenType

from distill.config import SandboxConfig
from distill.examples import Example, read_examples
from distill.tasks.code import CodeTask
from distill.tasks.text2sql import Text2SQLTask

from .conftest import REPO

SQL_SEEDS = REPO / "data" / "seeds" / "text2sql"
CODE_SEEDS = REPO / "data" / "seeds" / "code" / "seeds.jsonl"

# -- SQL wrappers: the first three rewrite the query, the last three wrap the reply ---------------------
_CLAUSES = {
    TokenType.FROM,
    TokenType.WHERE,
    TokenType.GROUP_BY,
    TokenType.HAVING,
    TokenType.ORDER_BY,
    TokenType.LIMIT,
    TokenType.JOIN,
    TokenType.UNION,
}


def blank_lines(sql: str, names: set[str]) -> str:
    """A blank line before every clause keyword (FROM, WHERE, JOIN, …), as long queries are laid out."""
    out, pos = [], 0
    for token in sqlglot.tokenize(sql, read="sqlite"):
        if token.token_type in _CLAUSES:
            out += [sql[pos : token.start].rstrip(" "), "\n\n"]
            pos = token.start
    return "".join(out) + sql[pos:]


def trailing_comment(sql: str, names: set[str]) -> str:
    return sql + " -- returns what the question asks for"


def backticks(sql: str, names: set[str]) -> str:
    """Every table and column name in MySQL-style backticks, which SQLite accepts."""
    out, pos = [], 0
    for token in sqlglot.tokenize(sql, read="sqlite"):
        if token.token_type == TokenType.VAR and token.text.lower() in names:
            out += [sql[pos : token.start], f"`{token.text}`"]
            pos = token.end + 1
    return "".join(out) + sql[pos:]


def sql_fence(reply: str) -> str:
    return f"```sql\n{reply}\n```"


# Each seed gets one of these, in turn: prose with "select", a backticked `SELECT`, apostrophes,
# parentheses and colons, before and after the reply.
_PROSE = [
    (
        "We select the matching rows with a `SELECT` statement:\n",
        "\nThis query will select only what was asked; the `SELECT` list names the columns, and that's all.",
    ),
    ("Here's the query (it's plain SQLite) - select it and run it:\n\n", "\n\nNote: it doesn't modify anything."),
    ("To answer, I'll select from the right tables.\n", "\n(Select returns the rows; WHERE filters them.)"),
]
# Reasoning with a different, runnable draft: a full block, an inline block, and a lone closing tag.
_THINK = [
    "<think>\nLet me select a first draft:\n```sql\nSELECT * FROM customers LIMIT 3\n```\n"
    "No, that is not it.\n</think>\n",
    "<think>Draft: SELECT COUNT(*) FROM orders; too simple.</think>",
    "I'll start from SELECT name FROM products\nand refine it.\n</think>\n\n",
]


def sql_prose(reply: str, variant: int = 0) -> str:
    before, after = _PROSE[variant % len(_PROSE)]
    return before + reply + after


def sql_think(reply: str, variant: int = 0) -> str:
    return _THINK[variant % len(_THINK)] + reply


SQL_INNER: dict[str, Callable[[str, set[str]], str]] = {
    "blank_lines": blank_lines,
    "trailing_comment": trailing_comment,
    "backticks": backticks,
}
# Applied innermost first: a fence goes inside prose, and both inside a reasoning block's answer.
SQL_OUTER: dict[str, Callable[..., str]] = {"fence": sql_fence, "prose": sql_prose, "think": sql_think}
WRAPPERS = [*SQL_INNER, *SQL_OUTER]
COMBINATIONS = [(w,) for w in WRAPPERS] + list(itertools.combinations(WRAPPERS, 2))


def wrap_sql(sql: str, names: set[str], combo: tuple[str, ...], variant: int = 0) -> str:
    for name in SQL_INNER:
        if name in combo:
            sql = SQL_INNER[name](sql, names)
    if "fence" in combo:
        sql = sql_fence(sql)
    if "prose" in combo:
        sql = sql_prose(sql, variant)
    if "think" in combo:
        sql = sql_think(sql, variant)
    return sql


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    db_dir = tmp_path_factory.mktemp("resources")
    task = Text2SQLTask(db_dir=db_dir)
    task.build_resources(SQL_SEEDS, db_dir)
    yield task
    task.close()


def test_every_sql_gold_grades_correct_in_every_wrapper(shop):
    seeds = read_examples(SQL_SEEDS / "seeds.jsonl")
    assert len(seeds) >= 100
    failures = []
    for index, seed in enumerate(seeds):
        names = {n for table, cols in shop._schema_columns(seed).items() for n in (table, *cols)}
        for combo in [(), *COMBINATIONS]:
            reply = wrap_sql(seed.output, names, combo, variant=index)
            score = shop.score(reply, seed)
            if not (score.correct and score.valid):
                failures.append((seed.id, combo, reply, score.prediction, score.error))
    assert failures == [], f"{len(failures)} failures; first: {failures[0]}"


def test_the_wrappers_really_change_the_reply(shop):
    seed = read_examples(SQL_SEEDS / "seeds.jsonl")[-1]
    names = {n for table, cols in shop._schema_columns(seed).items() for n in (table, *cols)}
    assert "\n\n" in blank_lines(seed.output, names)
    assert "`" in backticks(seed.output, names)
    for combo in COMBINATIONS:
        assert wrap_sql(seed.output, names, combo) != seed.output


# -- code wrappers ------------------------------------------------------------------------------------------
def code_blank_lines(code: str) -> str:
    """A blank line after every logical line (never inside a string or a bracket)."""
    ends = {t.end[0] for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type == tokenize.NEWLINE}
    lines = code.splitlines()
    return "\n".join(line + ("\n" if i + 1 in ends else "") for i, line in enumerate(lines)) + "\n"


def code_comment(code: str) -> str:
    return code.rstrip("\n") + "\n# select the result above; done\n"


def code_fence(reply: str) -> str:
    return f"```python\n{reply}\n```"


def code_prose(reply: str) -> str:
    return (
        "We select a direct approach; there is no `SELECT` here, only a function:\n\n"
        f"{reply}\n"
        "This function will select exactly what the docstring asks for."
    )


def code_think(reply: str, entry_point: str) -> str:
    draft = f"def {entry_point}(*args, **kwargs):\n    return None"
    return f"<think>\nA first draft:\n```python\n{draft}\n```\nThat ignores the task.\n</think>\n{reply}"


CODE_INNER = {"blank_lines": code_blank_lines, "trailing_comment": code_comment}
CODE_OUTER = ("fence", "prose", "think")
CODE_WRAPPERS = [*CODE_INNER, *CODE_OUTER]
CODE_COMBINATIONS = [(w,) for w in CODE_WRAPPERS] + list(itertools.combinations(CODE_WRAPPERS, 2))


def wrap_code(code: str, entry_point: str, combo: tuple[str, ...]) -> str:
    for name, inner in CODE_INNER.items():
        if name in combo:
            code = inner(code)
    if "fence" in combo:
        code = code_fence(code)
    if "prose" in combo:
        code = code_prose(code)
    if "think" in combo:
        code = code_think(code, entry_point)
    return code


def test_every_code_gold_passes_in_every_wrapper():
    task = CodeTask(SandboxConfig(cpu_s=5, wall_s=10.0))
    seeds = read_examples(CODE_SEEDS)
    assert len(seeds) >= 50
    failures = []
    for seed in seeds:
        entry_point = seed.metadata["entry_point"]
        for combo in [(), *CODE_COMBINATIONS]:
            reply = wrap_code(seed.output, entry_point, combo)
            score = task.score(reply, seed)
            if not (score.correct and score.valid):
                failures.append((seed.id, combo, score.error))
    assert failures == [], f"{len(failures)} failures; first: {failures[0]}"


def test_a_code_answer_that_prints_a_lot_passes():
    """The issue's answer: it prints every number it checks, and still passes its tests."""
    answer = (
        "def count_primes(n: int) -> int:\n"
        "    count = 0\n"
        "    for k in range(2, n):\n"
        "        print('checking', k)\n"
        "        if all(k % d for d in range(2, int(k ** 0.5) + 1)):\n"
        "            count += 1\n"
        "    return count\n"
    )
    example = Example(
        input='def count_primes(n: int) -> int:\n    """How many primes are below n."""\n',
        output=answer,
        metadata={
            "entry_point": "count_primes",
            "tests": "def check(candidate):\n    assert candidate(10) == 4\n    assert candidate(30000) == 3245\n",
        },
    )
    score = CodeTask(SandboxConfig(cpu_s=10, wall_s=20.0)).score(answer, example)
    assert (score.correct, score.valid) == (True, True), score.error
