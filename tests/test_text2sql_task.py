from distill.examples import Example


def _ex(question, sql, **metadata):
    return Example(input=question, output=sql, metadata={"db": "hr", "difficulty": "easy", **metadata}, id="q1")


def test_schema_prompt_puts_schema_in_system_message(tiny_task):
    messages = tiny_task.messages(_ex("Who earns most?", "SELECT 1"))
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "CREATE TABLE employees" in messages[0]["content"]
    assert "-- NULL for the top manager" in messages[0]["content"]
    assert messages[1]["content"] == "Who earns most?"


def _reasons(task, sql):
    return [p.reason for p in task.problems(_ex("q", sql))]


def test_validation_reasons_come_from_sqlite(tiny_task):
    assert _reasons(tiny_task, "SELECT name FROM employees") == []
    join = "SELECT e.name, d.name FROM employees e JOIN departments d ON e.department_id = d.department_id"
    assert _reasons(tiny_task, join) == []
    assert _reasons(tiny_task, "WITH top AS (SELECT name, salary FROM employees) SELECT name FROM top") == []
    assert _reasons(tiny_task, "SELECT COUNT(*) AS n FROM employees ORDER BY n") == []
    assert _reasons(tiny_task, "SELECT name FROM staff") == ["unknown_table"]
    # The classic small-model mistake: a real column on the wrong table.
    wrong_table = "SELECT d.salary FROM employees e JOIN departments d ON e.department_id = d.department_id"
    problems = tiny_task.problems(_ex("q", wrong_table))
    assert [p.reason for p in problems] == ["unknown_column"] and "salary" in problems[0].detail
    assert _reasons(tiny_task, "SELECT age FROM employees") == ["unknown_column"]
    assert _reasons(tiny_task, "SELEC name FRM employees") == ["parse_error"]
    assert _reasons(tiny_task, "SELECT name FROM employees WHERE") == ["parse_error"]
    assert _reasons(tiny_task, "DELETE FROM employees") == ["not_a_query"]
    assert _reasons(tiny_task, "SELECT 1; SELECT 2") == ["multiple_statements"]
    assert _reasons(tiny_task, "SELECT name FROM employees WHERE salary > 1000") == ["empty_result"]
    # SQLite reads "Sales" as a string (no column has that name): valid, whatever sqlglot thinks.
    assert _reasons(tiny_task, 'SELECT name FROM departments WHERE name = "Sales"') == []


def test_score_by_execution(tiny_task):
    ex = _ex("Names of employees in Sales", "SELECT name FROM employees WHERE department_id = 1")
    same_result = tiny_task.score(
        "```sql\nSELECT e.name FROM employees e JOIN departments d ON d.department_id = e.department_id "
        "WHERE d.name = 'Sales';\n```",
        ex,
    )
    assert same_result.correct and same_result.valid and not same_result.exact_match
    exact = tiny_task.score("select name from employees where department_id=1", ex)
    assert exact.correct and exact.exact_match
    wrong = tiny_task.score("SELECT name FROM employees", ex)
    assert not wrong.correct and wrong.valid
    broken = tiny_task.score("SELECT nme FROM employees", ex)
    assert not broken.correct and not broken.valid and "nme" in broken.error
    empty_gold = _ex("Who earns over 1000?", "SELECT name FROM employees WHERE salary > 1000")
    comment_only = tiny_task.score("-- No employee earns more than 1000.", empty_gold)
    assert not comment_only.correct and not comment_only.valid
    refused = tiny_task.score("I'm sorry, I can't help with that.", ex)
    assert not refused.correct and not refused.valid


def test_null_handling_question(tiny_task):
    ex = _ex("Who has no salary on record?", "SELECT name FROM employees WHERE salary IS NULL")
    assert tiny_task.score("SELECT name FROM employees WHERE salary IS NULL", ex).correct
    assert not tiny_task.score("SELECT name FROM employees WHERE salary = NULL", ex).correct
    assert tiny_task.score("SELECT name FROM employees WHERE COALESCE(salary, -1) = -1", ex).correct


def test_ordered_gold_requires_order(tiny_task):
    ex = _ex("Salaries high to low", "SELECT name FROM employees WHERE salary IS NOT NULL ORDER BY salary DESC")
    assert tiny_task.score("SELECT name FROM employees WHERE salary > 0 ORDER BY salary DESC", ex).correct
    assert not tiny_task.score("SELECT name FROM employees WHERE salary > 0 ORDER BY salary", ex).correct


def test_worked_examples_are_checked_and_shown_in_the_prompt(tiny_source, tmp_path):
    from distill.tasks.text2sql import Text2SQLTask

    (tiny_source / "hr" / "examples.jsonl").write_text(
        '{"input": "How many departments are there?", "output": "SELECT COUNT(*) FROM departments"}\n'
    )
    task = Text2SQLTask(db_dir=tmp_path / "db")
    task.build_resources(tiny_source, tmp_path / "db")
    messages = task.messages(_ex("Who earns most?", "SELECT 1"))
    task.close()
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "CREATE TABLE departments" in messages[0]["content"]
    assert messages[1]["content"] == "How many departments are there?"
    assert messages[2]["content"] == "SELECT COUNT(*) FROM departments"
    assert messages[3]["content"] == "Who earns most?"


def test_a_failing_worked_example_names_file_and_line(tiny_source, tmp_path):
    import pytest

    from distill.io import DataError
    from distill.tasks.text2sql import Text2SQLTask

    (tiny_source / "hr" / "examples.jsonl").write_text(
        '{"input": "ok", "output": "SELECT 1"}\n{"input": "bad", "output": "SELECT wage FROM employees"}\n'
    )
    with pytest.raises(DataError, match=r"examples.jsonl:2: example SQL fails: no such column: wage"):
        Text2SQLTask(db_dir=tmp_path / "db").build_resources(tiny_source, tmp_path / "db")


def test_degenerate_deeply_nested_output_is_graded_not_crashed(tiny_task):
    ex = _ex("q", "SELECT COUNT(*) FROM employees")
    text = "SELECT " + "(" * 400 + "1" + ")" * 400 + " FROM employees"
    score = tiny_task.score(text, ex)
    assert not score.correct and not score.valid
    unbalanced = tiny_task.score("SELECT COUNT(" + "(" * 400, ex)
    assert not unbalanced.correct and not unbalanced.valid


def test_answer_problem_is_what_running_the_answer_shows_without_the_gold(tiny_task):
    ex = _ex("Names of employees in Sales", "SELECT name FROM employees WHERE department_id = 1")
    assert tiny_task.answer_problem("SELECT name FROM employees", ex) is None  # runs; wrong is not a problem
    # SQLite's error, then where the schema has what is missing: no gold involved.
    assert tiny_task.answer_problem("SELECT e.salary_x FROM employees e", ex) == (
        "no such column: e.salary_x (employees has no column salary_x; no table has a column salary_x)"
    )
    assert tiny_task.answer_problem("SELECT d.salary FROM employees e", ex) == (
        "no such column: d.salary (d is not a table or alias in the query's FROM or JOIN; "
        "salary is a column of employees)"
    )
    assert tiny_task.answer_problem("SELECT name FROM staff", ex).startswith("no such table: staff (the tables are ")
    scoped = tiny_task.answer_problem("SELECT e.name FROM (SELECT * FROM employees e)", ex)
    assert scoped == (
        "no such column: e.name (e is defined in another part of the query than where it is used; "
        "name is a column of departments, employees)"
    )
    repair = tiny_task.repair_messages(tiny_task.messages(ex), "SELECT nme FROM employees", "no such column: nme")
    assert [m["role"] for m in repair[-3:]] == ["user", "assistant", "user"]
    assert repair[-2]["content"] == "SELECT nme FROM employees"
    assert "no such column: nme" in repair[-1]["content"] and ex.output not in repair[-1]["content"]
