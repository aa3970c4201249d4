"""Grading kind by kind: each failing input of the grading issue, through `python -m distill eval-sql`
on a tiny database, asserting full scoring (`correct` and `valid`), plus other members of each kind."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from distill.cli import main
from distill.examples import Example
from distill.tasks.sql_compare import results_match
from distill.tasks.text2sql import Text2SQLTask, extract_sql, single_quote_strings

from .conftest import REPO

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, city TEXT);
CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER);
CREATE TABLE t (cat TEXT, v REAL);
"""
DATA = """
INSERT INTO items VALUES (1, 'pen', 'Berlin'), (2, 'cup', 'Paris'), (3, 'map', 'Berlin');
INSERT INTO singer VALUES (1, 'Ann', 52), (2, 'Bo', 23), (3, 'Cy', 41);
INSERT INTO t VALUES ('A', 0.1), ('A', 0.2), ('A', 0.3), ('B', 0.6), ('B', 0.0), ('C', 0.3), ('C', 0.3);
"""


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("db") / "tiny.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA + DATA)
    conn.commit()
    conn.close()
    return path


def eval_sql(tmp_path: Path, db: Path, gold: str, reply: str, capsys, *flags: str) -> dict:
    """One reply graded through the CLI; the per-example record."""
    gold_file = tmp_path / "gold.jsonl"
    gold_file.write_text(json.dumps({"input": "q", "output": gold}) + "\n")
    pred_file = tmp_path / "pred.jsonl"
    pred_file.write_text(json.dumps({"output": reply}) + "\n")
    records = tmp_path / "records.jsonl"
    code = main(
        [
            "eval-sql",
            "--gold",
            str(gold_file),
            "--pred",
            str(pred_file),
            "--db",
            str(db),
            "--records",
            str(records),
            *flags,
        ]
    )
    capsys.readouterr()
    assert code == 0
    return json.loads(records.read_text().splitlines()[0])


def graded(record: dict) -> tuple[bool, bool]:
    return record["correct"], record["valid"]


# -- 1. where a statement ends: a blank line alone never ends one --------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        "```sql\nSELECT name\nFROM items\n\nWHERE id > 1\n```",  # the input
        "SELECT name\nFROM items\n\nWHERE id > 1",  # the same without a fence
        "SELECT name\nFROM items\n\n-- only the later items\nWHERE id > 1;\n\nThis lists them.",
        "```sql\nWITH later AS (\n  SELECT * FROM items WHERE id > 1\n)\n\nSELECT name\n\nFROM later\n```",
        "SELECT name\n\nFROM items\n\nWHERE id > 1\n\nThe query keeps the items after the first.",
        "Here it is:\n\n```\nSELECT name\n\n/* skip the first */\nFROM items WHERE id > 1\n```\nDone.",
    ],
)
def test_a_blank_line_does_not_end_a_statement(tmp_path, tiny_db, capsys, reply):
    record = eval_sql(tmp_path, tiny_db, "SELECT name FROM items WHERE id > 1", reply, capsys)
    assert graded(record) == (True, True), record


def test_prose_after_an_unfenced_query_is_still_stripped():
    assert extract_sql("SELECT name FROM items\n\nThis query lists every name.") == "SELECT name FROM items"
    assert extract_sql("SELECT name FROM items\nWHERE id > 1\nThat's all.") == "SELECT name FROM items\nWHERE id > 1"
    # SQLite runs this (a window function with a FILTER clause); sqlglot's opinion does not decide.
    sql = "SELECT name, count(*) FILTER (WHERE id > 1) OVER () FROM items\n\nDone."
    assert extract_sql(sql) == sql.split("\n\n")[0]


# -- 2. a broken answer is graded as written, never as its subquery ---------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        "SELECT * FROM (SELECT count(*) FROM singer",  # the input
        "```sql\nSELECT * FROM (\nSELECT count(*) FROM singer\n```",
        "SELECT count(*) FROM singer\nWHERE age >",  # cut off at the token limit
        "SELECT count(*)\nFROM singer\n\nWHERE age > 30 AND",
        "The answer:\nSELECT * FROM (\n  SELECT count(*) FROM singer",
        "SELECT count(*) FROM singer WHERE singer_id IN (\nSELECT singer_id FROM singer",
        "SELECT * FROM singer WHERE singer_id IN\nSELECT count(*) FROM singer",  # unfinished, then a SELECT
        "INSERT INTO singer SELECT count(*) FROM singer",  # a SELECT inside a write is not the answer
        "CREATE TABLE x (n INTEGER);\n\nINSERT INTO x SELECT count(*)\nFROM singer;",
    ],
)
def test_a_broken_answer_is_an_error_not_its_subquery(tmp_path, tiny_db, capsys, reply):
    record = eval_sql(tmp_path, tiny_db, "SELECT count(*) FROM singer", reply, capsys)
    assert graded(record) == (False, False), record
    assert record["error"]


def test_a_candidate_never_starts_inside_parentheses_or_after_a_set_operator():
    union = "SELECT name FROM items\nUNION\nSELECT name FROM singer"
    assert extract_sql(f"```sql\n{union}\n```") == union
    assert extract_sql(union) == union
    assert extract_sql("To select the names, run:\nSELECT name FROM items") == "SELECT name FROM items"
    # a lower-case "select" inside a sentence is prose
    assert extract_sql("We select rows: SELECT id FROM items") == "SELECT id FROM items"


# -- 3. quoting and inline code ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        "```sql\nSELECT `name` FROM `items` ORDER BY `name`;\n```",  # the input
        "The answer uses a `SELECT` with an `ORDER BY`:\nSELECT name FROM items ORDER BY name",  # the input
        '```sql\nSELECT "name" FROM "items" ORDER BY "name"\n```',
        "SELECT [name] FROM [items] ORDER BY [name];",
        "Use `SELECT` and `ORDER BY`. Here: SELECT `name` FROM items ORDER BY `name`",
        "```\nSELECT `name`\nFROM `items`\nORDER BY `name`\n```",
    ],
)
def test_quoted_identifiers_and_inline_code(tmp_path, tiny_db, capsys, reply):
    record = eval_sql(tmp_path, tiny_db, "SELECT name FROM items ORDER BY name", reply, capsys)
    assert graded(record) == (True, True), record


# -- 4. reasoning blocks ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        "<think>\nFirst draft:\n```sql\nSELECT * FROM items\n```\nNo, only names.\n</think>\n"
        "```sql\nSELECT name FROM items\n```",
        "<think>SELECT * FROM items</think>SELECT name FROM items",
        # the opening tag was in the prompt
        "I should select everything: SELECT * FROM items\n</think>\n\nSELECT name FROM items",
        "<thinking>\nSELECT id FROM items;\n</thinking>\nAnswer: SELECT name FROM items;",
    ],
)
def test_reasoning_is_removed_before_extraction(tmp_path, tiny_db, capsys, reply):
    record = eval_sql(tmp_path, tiny_db, "SELECT name FROM items", reply, capsys)
    assert graded(record) == (True, True), record


def test_an_unclosed_reasoning_block_is_no_answer(tmp_path, tiny_db, capsys):
    record = eval_sql(tmp_path, tiny_db, "SELECT name FROM items", "<think>\nMaybe SELECT name FROM items", capsys)
    assert graded(record) == (False, False)
    assert record["prediction"] == ""


def test_reasoning_is_removed_from_code_and_from_proposals():
    from distill.tasks.code import CodeTask, extract_code

    reply = "<think>\n```python\ndef f():\n    return 1\n```\n</think>\n```python\ndef f():\n    return 2\n```"
    assert extract_code(reply) == "def f():\n    return 2"
    assert extract_code("<think>\ndef f():\n    return 1\n") == ""
    seed = Example(input="def g():\n    pass\n", output="def g():\n    return 0\n", metadata={"entry_point": "g"})
    draft = '{"instruction": "Draft.", "code": "def h():\\n    return 1"}'
    final = '{"instruction": "Final.", "code": "def k():\\n    return 2"}'
    task = CodeTask()
    found = task.parse_proposals(f"<think>{draft}</think>\n{final}", "novel", [seed], Path("/nonexistent"))
    assert [c.metadata["entry_point"] for c in found] == ["k"]
    assert task.parse_proposals(f"<think>{draft}", "novel", [seed], Path("/nonexistent")) == []


def test_reasoning_is_removed_from_sql_proposals(tmp_path):
    task = Text2SQLTask(db_file=tmp_path / "none.sqlite")
    seed = Example(input="q", output="SELECT 1", metadata={"db": "shop"}, id="s1")
    draft = '<think>{"question": "Draft question?", "sql": "SELECT 1"}</think>'
    final = '{"question": "Final question?", "sql": "SELECT 2"}'
    found = task.parse_proposals(draft + "\n" + final, "novel", [seed], tmp_path)
    assert [c.input for c in found] == ["Final question?"]
    assert task.parse_proposals('<think>{"question": "Unfinished?"}', "novel", [seed], tmp_path) == []


# -- 5. one equality rule, independent of row order -------------------------------------------------------
def test_sums_in_another_order_match(tmp_path, tiny_db, capsys):
    gold = "SELECT SUM(v), cat FROM t GROUP BY cat"
    reply = "SELECT SUM(v), cat FROM (SELECT * FROM t ORDER BY v DESC) GROUP BY cat"
    assert graded(eval_sql(tmp_path, tiny_db, gold, reply, capsys)) == (True, True)


def test_near_equal_floats_of_different_groups_are_never_paired():
    gold = [(0.6000000000000001, "A"), (0.6, "B"), (0.6, "C")]
    pred = [(0.6, "A"), (0.6, "B"), (0.6000000000000001, "C")]
    assert results_match(gold, pred, ordered=False)
    assert results_match(gold, list(reversed(pred)), ordered=False)
    # the same shape with the groups in a number column
    assert results_match([(0.6000000000000001, 1), (0.6, 2)], [(0.6, 1), (0.6000000000000001, 2)], ordered=False)
    # a real difference is still a difference
    assert not results_match([(0.6, "A"), (0.7, "B")], [(0.7, "A"), (0.6, "B")], ordered=False)
    assert not results_match([(0.6, 1), (0.6, 2)], [(0.6, 1), (0.6, 3)], ordered=False)


def test_the_vote_uses_grading_equality(tmp_path, tiny_db):
    from distill.generation.labeling import vote

    task = Text2SQLTask(db_file=tiny_db)
    try:
        candidate = Example(input="Total per category?", output="", metadata={"db": "tiny"})
        samples = [
            "SELECT SUM(v), cat FROM t GROUP BY cat",
            "SELECT SUM(v), cat FROM (SELECT * FROM t ORDER BY v DESC) GROUP BY cat",
            "SELECT cat, SUM(v) FROM t GROUP BY cat",  # the same result, columns permuted
        ]
        decision = vote(task, candidate, samples)
        assert (decision.agreeing, decision.samples) == (3, 3)
        proposed = Example(input=candidate.input, output=samples[1], metadata=candidate.metadata)
        assert vote(task, proposed, samples[:1] * 3).output == samples[0]
    finally:
        task.close()


# -- 6. validity agrees with SQLite ------------------------------------------------------------------------
def test_a_double_quoted_string_that_sqlite_runs_is_valid(tmp_path, tiny_db, capsys):
    record = eval_sql(
        tmp_path,
        tiny_db,
        "SELECT name FROM items WHERE city = 'Berlin'",
        'SELECT name FROM items WHERE city = "Berlin"',
        capsys,
    )
    assert graded(record) == (True, True), record


def test_sqlglot_never_makes_a_query_that_sqlite_runs_invalid(tmp_path, tiny_db, capsys):
    # sqlglot cannot parse this (a FILTER on a window function); SQLite runs it.
    reply = "SELECT count(*) FILTER (WHERE id > 1) OVER () FROM items LIMIT 1"
    record = eval_sql(tmp_path, tiny_db, "SELECT 2", reply, capsys)
    assert graded(record) == (True, True), record


def test_double_quoted_strings_are_stored_single_quoted(tmp_path, tiny_db):
    names = {"items", "id", "name", "city"}
    assert single_quote_strings('SELECT name FROM items WHERE city = "Berlin"', names) == (
        "SELECT name FROM items WHERE city = 'Berlin'"
    )
    assert single_quote_strings('SELECT "name" FROM "items" WHERE "city" = "O\'Hare"', names) == (
        'SELECT "name" FROM "items" WHERE "city" = \'O\'\'Hare\''
    )
    kept = 'SELECT COUNT(*) AS "n" FROM items i WHERE "i"."city" = \'Paris\' ORDER BY "n"'
    assert single_quote_strings(kept, names) == kept
    task = Text2SQLTask(db_file=tiny_db)
    try:
        ex = Example(input="q", output='SELECT name FROM items WHERE city = "Berlin"', metadata={"db": "tiny"})
        assert task.problems(ex) == []
        assert task.canonical_output(ex.output, ex) == "SELECT name FROM items WHERE city = 'Berlin'"
    finally:
        task.close()


# -- 7. result size ---------------------------------------------------------------------------------------
HUGE = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3000) SELECT zeroblob(999000) FROM r"


def test_a_huge_result_fails_alone_under_an_address_space_limit(tmp_path, tiny_db):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        json.dumps({"input": "a", "output": "SELECT count(*) FROM singer"})
        + "\n"
        + json.dumps({"input": "b", "output": "SELECT count(*) FROM singer"})
        + "\n"
    )
    pred = tmp_path / "pred.jsonl"
    pred.write_text(json.dumps({"output": HUGE}) + "\n" + json.dumps({"output": "SELECT count(*) FROM singer"}) + "\n")
    records = tmp_path / "records.jsonl"
    script = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3,) * 2)
        from distill.cli import main
        sys.exit(main(["eval-sql", "--gold", {str(gold)!r}, "--pred", {str(pred)!r}, "--db", {str(tiny_db)!r},
                       "--records", {str(records)!r}]))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = (json.loads(line) for line in records.read_text().splitlines())
    assert graded(first) == (False, False) and first["error"].startswith("result too large")
    assert graded(second) == (True, True)


def test_the_result_cap_is_a_param(tmp_path, tiny_db):
    from distill.config import load_params

    params = load_params(REPO / "params.yaml")
    assert params.task.sql_max_result_mb == 64
    task = Text2SQLTask(db_file=tiny_db, max_result_mb=0.001)
    try:
        ex = Example(input="q", output="SELECT name FROM items", metadata={})
        assert task.answer_outcome("SELECT zeroblob(2000)", ex) is None
        problem = task.problems(Example(input="q", output="SELECT zeroblob(2000)", metadata={}))
        assert [p.reason for p in problem] == ["result_too_large"]
    finally:
        task.close()


# -- 10. input errors name the file and line ---------------------------------------------------------------
def test_a_latin1_line_names_the_file_and_line(tmp_path, tiny_db, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_bytes(
        json.dumps({"input": "a", "output": "SELECT 1"}).encode()
        + b"\n"
        + '{"input": "caf\xe9", "output": "SELECT 1"}\n'.encode("latin-1")
    )
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"output": "SELECT 1"}\n{"output": "SELECT 1"}\n')
    code = main(["eval-sql", "--gold", str(gold), "--pred", str(pred), "--db", str(tiny_db)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"error: {gold}:2: not valid UTF-8" in err
    assert "Traceback" not in err


def test_every_user_text_file_names_the_line(tmp_path):
    from distill.config import ConfigError, load_params
    from distill.io import DataError

    params = tmp_path / "params.yaml"
    params.write_bytes(b"task:\n  name: text2sql\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"params\.yaml:3: not valid UTF-8"):
        load_params(params)
    source = tmp_path / "seeds" / "shop"
    source.mkdir(parents=True)
    (source / "schema.sql").write_text("CREATE TABLE a (x TEXT);\n")
    (source / "data.sql").write_bytes(b"INSERT INTO a VALUES ('ok');\nINSERT INTO a VALUES ('caf\xe9');\n")
    with pytest.raises(DataError, match=r"data\.sql:2: not valid UTF-8"):
        Text2SQLTask().build_resources(source.parent, tmp_path / "out")
    (source / "data.sql").write_text("INSERT INTO a VALUES ('ok');\n")
    (source / "examples.jsonl").write_bytes(b'{"input": "caf\xe9", "output": "SELECT x FROM a"}\n')
    with pytest.raises(DataError, match=r"examples\.jsonl:1: not valid UTF-8"):
        Text2SQLTask().build_resources(source.parent, tmp_path / "out")


def test_validate_keeps_sqlite_valid_pairs_and_stores_single_quotes(tiny_db):
    from distill.config import ValidateConfig
    from distill.validation.filters import validate_examples

    task = Text2SQLTask(db_file=tiny_db)
    try:
        pairs = [
            Example(
                "Which items are in Berlin?", 'SELECT name FROM items WHERE city = "Berlin"', {"kind": "novel"}, "a"
            ),
            Example("How old is Ann?", 'SELECT age FROM singer WHERE name = "Ann"', {"kind": "novel"}, "b"),
            Example("Which items have a price?", "SELECT name FROM items WHERE price > 1", {"kind": "novel"}, "c"),
        ]
        result = validate_examples(task, pairs, [], ValidateConfig(val_fraction=0.0))
        assert [ex.output for ex in result.train] == [
            "SELECT name FROM items WHERE city = 'Berlin'",
            "SELECT age FROM singer WHERE name = 'Ann'",
        ]
        assert [r["reason"] for r in result.rejected] == ["unknown_column"]
    finally:
        task.close()


# -- more members of the kinds (found by trying to break the fixes) ----------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        "To count rows, use SELECT count(*) FROM singer",
        "To count rows, use SELECT count(*)\nFROM singer\n\nThat's all.",
        "- SELECT count(*) FROM singer",
        "1. SELECT count(*) FROM singer",
        "> SELECT count(*) FROM singer",
        "Select all singers\nSELECT count(*) FROM singer",  # a title line that happens to compile
        "With singers\nSELECT count(*) FROM singer",
        "SELECT count(*) FROM singr\n\nOops, that's a typo (sorry). Corrected:\nSELECT count(*) FROM singer",
    ],
)
def test_where_a_query_starts(tmp_path, tiny_db, capsys, reply):
    record = eval_sql(tmp_path, tiny_db, "SELECT count(*) FROM singer", reply, capsys)
    assert graded(record) == (True, True), record


@pytest.mark.parametrize(
    "reply",
    [
        "```sql SELECT `name` FROM `items` ORDER BY `name` ```",
        "```SELECT `name` FROM items ORDER BY `name````",
        "Run ``SELECT `name` FROM items ORDER BY `name``` in sqlite.",
    ],
)
def test_backticks_inside_one_line_fences_and_inline_code(tmp_path, tiny_db, capsys, reply):
    record = eval_sql(tmp_path, tiny_db, "SELECT name FROM items ORDER BY name", reply, capsys)
    assert graded(record) == (True, True), record


def test_reasoning_tags_inside_an_answer_are_content(tmp_path, tiny_db, capsys):
    from distill.tasks.code import extract_code

    sql = "SELECT name FROM items WHERE name <> '<think>'"
    assert extract_sql(sql) == sql
    assert extract_sql("```sql\nSELECT name FROM items WHERE name <> '</think>'\n```").endswith("'</think>'")
    assert extract_sql("The `<think>` tag is not used here.\nSELECT name FROM items") == "SELECT name FROM items"
    code = 'def strip_tags(s):\n    return s.replace("<think>", "").replace("</think>", "")'
    assert extract_code(f"```python\n{code}\n```") == code


def test_the_vote_does_not_depend_on_sample_order(tiny_db):
    from distill.generation.labeling import vote

    task = Text2SQLTask(db_file=tiny_db)
    try:
        candidate = Example(input="Item names?", output="", metadata={})
        a, b, c = (
            "SELECT name FROM items",
            "SELECT name FROM items ORDER BY name",
            "SELECT name FROM items ORDER BY name DESC",
        )
        decisions = {
            (d.output is not None, d.agreeing)
            for d in (vote(task, candidate, s) for s in ([a, b, c], [b, c, a], [c, a, b]))
        }
        assert decisions == {(True, 3)}
    finally:
        task.close()


def test_a_trailing_comment_does_not_hide_the_gold_order(tmp_path, tiny_db, capsys):
    gold = "SELECT name FROM items ORDER BY name; -- alphabetical"
    record = eval_sql(tmp_path, tiny_db, gold, "SELECT name FROM items ORDER BY name DESC", capsys)
    assert graded(record) == (False, True)


def test_aliases_stay_double_quoted(tiny_db):
    task = Text2SQLTask(db_file=tiny_db)
    try:
        ex = Example(input="q", output='SELECT id "k" FROM items ORDER BY "k" DESC', metadata={})
        assert task.canonical_output(ex.output, ex) == ex.output
        aliased = 'SELECT id AS "k" FROM items WHERE "k" > 1 AND city = "Berlin"'
        assert task.canonical_output(aliased, ex) == 'SELECT id AS "k" FROM items WHERE "k" > 1 AND city = \'Berlin\''
    finally:
        task.close()


def test_code_that_replaces_stdout_still_gets_its_verdict():
    from distill.config import SandboxConfig
    from distill.tasks.code import CodeTask

    answer = "import sys\n\ndef double(x):\n    sys.stdout = None\n    return 2 * x\n"
    example = Example(
        input='def double(x):\n    """Twice x."""\n',
        output="def double(x):\n    return 2 * x\n",
        metadata={"entry_point": "double", "tests": "def check(candidate):\n    assert candidate(2) == 4\n"},
    )
    score = CodeTask(SandboxConfig()).score(answer, example)
    assert (score.correct, score.valid) == (True, True), score.error


def test_an_unpaired_surrogate_names_the_line(tmp_path, tiny_db, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"input": "a", "output": "SELECT 1"}\n')
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"output": "SELECT \'\\udcff\'"}\n')
    code = main(
        [
            "eval-sql",
            "--gold",
            str(gold),
            "--pred",
            str(pred),
            "--db",
            str(tiny_db),
            "--records",
            str(tmp_path / "r.jsonl"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and f"error: {pred}:1: a string holds an unpaired surrogate" in err


@pytest.mark.parametrize(
    "reply",
    [
        "SELECT name FROM items WHERE id > 1. This returns two rows.",
        "Answer:\nSELECT name FROM items WHERE id > 1.",
        "SELECT name\nFROM items WHERE id > 1. That's it.",
        "SELECT name FROM items WHERE id > 1\n\nThis query keeps the later items. It is simple.",
    ],
)
def test_prose_on_the_query_line_is_stripped(tmp_path, tiny_db, capsys, reply):
    record = eval_sql(tmp_path, tiny_db, "SELECT name FROM items WHERE id > 1", reply, capsys)
    assert graded(record) == (True, True), record
