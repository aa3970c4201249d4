import json
import subprocess
import sys

import pytest

from distill.cli import main

from .conftest import REPO, write_jsonl

GOLD = [
    {
        "input": "Names in Sales?",
        "output": "SELECT name FROM employees WHERE department_id = 1",
        "metadata": {"db": "hr", "difficulty": "easy"},
    },
    {
        "input": "How many departments?",
        "output": "SELECT COUNT(*) FROM departments",
        "metadata": {"db": "hr", "difficulty": "easy"},
    },
    {
        "input": "Who has no manager?",
        "output": "SELECT name FROM employees WHERE manager_id IS NULL",
        "metadata": {"db": "hr", "difficulty": "medium"},
    },
]


@pytest.fixture
def fixture_files(tmp_path, tiny_task):
    gold = write_jsonl(tmp_path / "gold.jsonl", GOLD)
    return tmp_path, gold


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_eval_sql_in_order_with_one_db_file(fixture_files, capsys):
    tmp, gold = fixture_files
    pred = write_jsonl(
        tmp / "pred.jsonl",
        [
            {"output": "```sql\nSELECT e.name FROM employees e WHERE e.department_id = 1;\n```"},
            {"output": "SELECT COUNT(*) FROM departments"},
            {"output": "SELECT name FROM employees WHERE manager_id = NULL"},
        ],
    )
    code, out, _ = _run(capsys, "eval-sql", "--gold", str(gold), "--pred", str(pred), "--db", str(tmp / "db/hr.sqlite"))
    assert code == 0
    metrics = json.loads(out)
    assert metrics["n"] == 3 and metrics["correct"] == 2
    assert metrics["exact_match"] == pytest.approx(1 / 3, abs=1e-3)
    assert metrics["by_difficulty"]["medium"]["execution_accuracy"] == 0.0


@pytest.mark.parametrize("layout", ["flat", "nested"])
def test_eval_sql_db_dir_joined_on_id(fixture_files, capsys, layout):
    tmp, _ = fixture_files
    dbs = tmp / f"dbs-{layout}"
    target = dbs / "hr.sqlite" if layout == "flat" else dbs / "hr" / "hr.sqlite"
    target.parent.mkdir(parents=True)
    target.write_bytes((tmp / "db/hr.sqlite").read_bytes())
    gold = write_jsonl(tmp / "gold_ids.jsonl", [{**g, "id": f"g{i}"} for i, g in enumerate(GOLD)])
    pred = write_jsonl(
        tmp / "pred.jsonl",
        [
            {"id": "g2", "output": "SELECT name FROM employees WHERE manager_id IS NULL"},
            {"id": "g0", "output": "SELECT name FROM employees"},
            {"id": "g1", "output": "SELECT 3"},
        ],
    )
    records = tmp / "records.jsonl"
    code, out, _ = _run(
        capsys, "eval-sql", "--gold", str(gold), "--pred", str(pred), "--db-dir", str(dbs), "--records", str(records)
    )
    assert code == 0
    assert json.loads(out)["correct"] == 2
    graded = [json.loads(line) for line in records.read_text().splitlines()]
    assert [r["correct"] for r in graded] == [False, True, True]


def test_eval_sql_errors_are_clear(fixture_files, capsys):
    tmp, gold = fixture_files
    pred = write_jsonl(tmp / "pred.jsonl", [{"output": "SELECT 1"}])
    code, _, err = _run(capsys, "eval-sql", "--gold", str(gold), "--pred", str(pred), "--db", str(tmp / "db/hr.sqlite"))
    assert code == 1 and "1 predictions for 3 gold examples" in err
    pred.write_text('{"output": "SELECT 1"}\n{"output": 5}\n')
    code, _, err = _run(capsys, "eval-sql", "--gold", str(gold), "--pred", str(pred), "--db", str(tmp / "db/hr.sqlite"))
    assert code == 1 and f"{pred}:2: field 'output'" in err
    pred = write_jsonl(tmp / "pred.jsonl", [{"output": "SELECT 1"}] * 3)
    code, _, err = _run(capsys, "eval-sql", "--gold", str(gold), "--pred", str(pred), "--db-dir", str(tmp / "nowhere"))
    assert code == 1 and "database 'hr' not found" in err


def test_module_entry_point(fixture_files):
    tmp, gold = fixture_files
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "distill",
            "eval-sql",
            "--gold",
            str(gold),
            "--pred",
            str(gold),
            "--db",
            str(tmp / "db/hr.sqlite"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["execution_accuracy"] == 1.0


def test_eval_sql_refuses_a_failing_gold_query(fixture_files, capsys):
    tmp, _ = fixture_files
    gold = write_jsonl(tmp / "bad_gold.jsonl", [GOLD[0], {**GOLD[1], "output": "SELECT COUNT(*) FROM departmnts"}])
    pred = write_jsonl(tmp / "pred.jsonl", [{"output": "SELECT 1"}] * 2)
    code, _, err = _run(capsys, "eval-sql", "--gold", str(gold), "--pred", str(pred), "--db", str(tmp / "db/hr.sqlite"))
    assert code == 1 and f"{gold}:2: gold SQL fails: no such table: departmnts" in err


def test_predictions_with_ids_join_on_input_when_gold_has_no_ids(fixture_files, capsys):
    tmp, gold = fixture_files
    pred = write_jsonl(
        tmp / "pred.jsonl", [{"id": 7, "input": g["input"], "output": g["output"]} for g in reversed(GOLD)]
    )
    code, out, _ = _run(capsys, "eval-sql", "--gold", str(gold), "--pred", str(pred), "--db", str(tmp / "db/hr.sqlite"))
    assert code == 0 and json.loads(out)["execution_accuracy"] == 1.0
