"""The report: tables, bars, red flags, teacher cost and disagreements, in Markdown and HTML."""

from __future__ import annotations

import html

from distill.evaluation.gap import gap_report
from distill.evaluation.metrics import accuracy_block
from distill.evaluation.report import accuracy_plot_rows, build_report, disagreements, render_html, render_markdown
from distill.evaluation.speed import decode_speed
from distill.examples import Example
from distill.inference.base import Generation


def _model(correct: list[bool], difficulties: list[str]) -> dict:
    block = accuracy_block(correct)
    block["by_difficulty"] = {
        d: accuracy_block([c for c, dd in zip(correct, difficulties, strict=True) if dd == d])
        for d in sorted(set(difficulties))
    }
    block.update(valid_rate=1.0, exact_match=0.0, mean_latency_s=0.5)
    return block


def _records(model: str, correct: list[bool]) -> list[dict]:
    return [
        {
            "model": model,
            "id": f"q{i}",
            "difficulty": "easy" if i < 2 else "hard",
            "input": f"Question {i} with <b>markup</b>?",
            "gold": f"SELECT {i}",
            "prediction": f"SELECT {i if c else -1} -- {model}",
            "correct": c,
        }
        for i, c in enumerate(correct)
    ]


STUDENT = [True, False, False, True]
TEACHER = [True, True, True, False]
DIFFS = ["easy", "easy", "hard", "hard"]


def _report():
    eval_metrics = {
        "task": "text2sql",
        "n": 4,
        "models": {
            "base": _model([False] * 4, DIFFS),
            "student": _model(STUDENT, DIFFS),
            "teacher": _model(TEACHER, DIFFS),
        },
        "red_flags": [{"flag": "student_below_50", "message": "student at 50.0%: a training or data problem"}],
        "teacher_usage": {"calls": 0, "cache_hits": 4, "input_tokens": 0, "output_tokens": 0, "usd": 0.0},
    }
    eval_metrics["gguf"] = {
        "student-q4_k_m.gguf": {
            "execution_accuracy": 0.25,
            "ci95": [0.05, 0.7],
            "n": 4,
            "bytes": 100 * 2**20,
            "first_answer_accuracy": 0.25,
            "delta_vs_f16": -0.25,
            "tokens_per_s": 90.0,
            "seconds_per_answer": 0.4,
            "shipped": True,
            "by_difficulty": {"easy": {"execution_accuracy": 0.5}, "hard": {"execution_accuracy": 0.0}},
        }
    }
    drop = {"flag": "quantization_accuracy_drop", "message": "student-q4_k_m.gguf loses 25.0%"}
    eval_metrics["red_flags"].append(drop)
    eval_metrics["speed"] = {
        "teacher": {"seconds_per_answer": 2.0, "bytes": 1000 * 2**20},
        "student": {"model": "student-q4_k_m.gguf", "seconds_per_answer": 0.4, "bytes": 100 * 2**20},
        "latency_ratio": 0.2,
    }
    generate_metrics = {
        "teacher_usage": {
            "calls": 12,
            "cache_hits": 3,
            "input_tokens": 5000,
            "output_tokens": 900,
            "usd": 0.0312,
            "seconds": 100.0,
            "cached_input_tokens": 1000,
            "cached_output_tokens": 100,
            "cached_usd": 0.01,
            "cached_seconds": 20.0,
        }
    }
    predictions = _records("base", [False] * 4) + _records("student", STUDENT) + _records("teacher", TEACHER)
    return build_report(
        eval_metrics,
        predictions,
        generate_metrics,
        None,
        timings={"generate": 600.0, "train": 120.0},
        loss_curves={"train": [(0, 1.0), (1, 0.8), (2, 0.6)], "validation": [(2, 0.7)]},
    )


def test_disagreements_put_the_students_misses_first():
    predictions = _records("student", STUDENT) + _records("teacher", TEACHER)
    got = disagreements(predictions)
    assert [d["id"] for d in got] == ["q1", "q2", "q3"]  # q0 agrees; misses q1, q2, then the win q3
    assert [d["teacher_correct"] for d in got] == [True, True, False]
    assert len(disagreements(predictions, limit=2)) == 2


def test_markdown_report_has_every_section():
    md = render_markdown(_report())
    assert "| student | 50.0% |" in md and "| teacher | 75.0% |" in md
    assert "| student-q4_k_m.gguf | 25.0% |" in md and "(-25.0% vs f16)" in md and "0.40 s/answer one at a time" in md
    assert "⚠ student at 50.0%" in md and "⚠ student-q4_k_m.gguf loses 25.0%" in md
    # What the answers cost when made: this run's calls plus the cached ones' stored usage.
    assert "| generate | 12 | 3 | 6000 | 1000 | $0.0412 | $0.0312 | 120 |" in md
    assert "| reference | 0 | 4 |" in md
    assert "| generate | 10.0 |" in md and "| total | 12.0 |" in md  # stage wall times, minutes
    assert md.count("<polyline") == 2  # train and validation loss, inline
    assert "██████████░░░░░░░░░░  50.0%" in md  # the student's easy bar
    assert "### q1 (easy): teacher right, student wrong" in md
    assert "Where student and teacher disagree (3)" in md


def test_html_report_escapes_model_text():
    page = render_html(_report())
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<b>markup</b>" not in page and "&lt;b&gt;markup&lt;/b&gt;" in page
    assert "width:50.0%" in page


def test_accuracy_plot_rows_list_models_and_files():
    rows = accuracy_plot_rows(_report())
    assert [r["model"] for r in rows] == ["base", "student", "teacher", "student-q4_k_m.gguf"]
    assert rows[1]["execution_accuracy"] == 0.5


class _Model:
    name, batch_size = "m", 1

    def __init__(self):
        self.calls = 0

    def generate(self, conversations, temperature=0.0, sample_index=0):
        self.calls += 1
        return [Generation(text="SELECT 1", seconds=0.5, tokens=10) for _ in conversations]


class _Task:
    def prompt(self, example, *, few_shot):
        return [{"role": "user", "content": example.input}]


def test_decode_speed_excludes_the_warm_up_answer():
    model = _Model()
    speed = decode_speed(model, _Task(), [Example(input="a", output="b"), Example(input="c", output="d")])
    assert model.calls == 3  # one warm-up, then each question alone
    assert speed == {"tokens_per_s": 20.0, "seconds_per_answer": 0.5, "tokens": 20, "n": 2}


def test_the_report_shows_the_first_answer_accuracy_beside_a_repaired_one():
    report = _report()
    teacher = dict(_model(TEACHER, DIFFS), first_answer=accuracy_block([True, True, False, False]))
    teacher.update(repaired=1, repaired_correct=1)
    eval_metrics = {"task": "text2sql", "n": 4, "models": {"teacher": teacher}}
    (row,) = build_report(eval_metrics, []).rows
    assert "first answer 50.0%, 1 sent back with their error, 1 then right" in row["detail"]
    assert "first answer" not in report.rows[0]["detail"]  # nothing repaired, nothing said
    assert "first answer 50.0%" in render_markdown(build_report(eval_metrics, []))


def test_the_report_states_the_gap_closed_and_its_ci():
    data = _report()
    data.gap = gap_report(STUDENT * 25, TEACHER * 25, {"few_shot": [False] * 100}, resamples=300)
    md, page = render_markdown(data), render_html(data)
    # (0.5 - 0) / (0.75 - 0) = 0.67
    assert "Gap closed: 0.67 (paired bootstrap 95% CI " in md
    assert "base 0.0% with its few-shot prompt; student − base +50.0%." in md
    assert md.index("Gap closed") < md.index("## Models")
    assert "Gap closed: 0.67" in page
    data.gap = gap_report(STUDENT, [False] * 4, {"few_shot": [False] * 4})
    assert "Gap closed: undefined, the teacher is not above the base (0.0%)." in render_markdown(data)
    data.gap = gap_report([False] * 9 + [True], [True, True] + [False] * 8, {"few_shot": [True] + [False] * 9})
    assert "Gap closed: 0.00 (no reliable CI)" in render_markdown(data)


def test_the_report_reads_the_gap_from_eval_metrics():
    report = _report()
    assert report.gap is None and "Gap closed" not in render_markdown(report)
    eval_metrics = {"task": "text2sql", "n": 4, "models": {}, "red_flags": []}
    eval_metrics["gap"] = gap_report(STUDENT * 25, TEACHER * 25, {"few_shot": [False] * 100}, resamples=300)
    assert "Gap closed: 0.67" in render_markdown(build_report(eval_metrics, []))


def test_difficulties_are_listed_easy_medium_hard():
    block = _model([True, False, True], ["hard", "medium", "easy"])
    eval_metrics = {"task": "text2sql", "n": 3, "models": {"student": block}, "red_flags": []}
    data = build_report(eval_metrics, [])
    assert list(data.by_difficulty) == ["easy", "medium", "hard"]
    md = render_markdown(data)
    assert md.index("**easy**") < md.index("**medium**") < md.index("**hard**")


def test_the_report_opens_with_the_accuracies_the_gap_and_the_cost():
    data = _report()
    data.gap = gap_report(STUDENT * 25, TEACHER * 25, {"few_shot": [False] * 100}, resamples=300)
    md = render_markdown(data)
    opening = (
        "The student scores 50.0% (teacher 75.0%, base 0.0%) and closes 0.67 of the teacher-over-base gap; "
        "its student-q4_k_m.gguf answers in 0.40 s against the teacher's 2.00 s (0.20×, one question at a time), "
        "at 100 MiB against 1,000 MiB; the teacher's data cost $0.0412 for 7,000 tokens."
    )
    assert md.splitlines()[2] == opening
    assert html.escape(opening) in render_html(data)
    eval_metrics = {"task": "text2sql", "n": 1, "models": {"teacher": _model([True], ["easy"])}, "red_flags": []}
    assert not render_markdown(build_report(eval_metrics, [])).splitlines()[2].startswith("The student")


def test_the_schema_check_names_a_missing_and_an_unknown_key():
    from distill.evaluation.records import GateMetrics, Prediction, schema_problems

    row = {
        "model": "student",
        "id": "q1",
        "difficulty": "easy",
        "input": "How many?",
        "gold": "SELECT 1",
        "raw_output": "SELECT 1",
        "prediction": "SELECT 1",
        "correct": True,
        "valid": True,
        "exact_match": True,
        "error": None,
        "latency_s": 0.5,
        "repairs": 0,
        "first_output": None,
        "prompt": "zero_shot",
    }
    assert schema_problems(row, Prediction) == []
    assert schema_problems({**row, "extra": 1}, Prediction) == [".extra: not in Prediction"]
    assert schema_problems({k: v for k, v in row.items() if k != "correct"}, Prediction) == [".correct: missing"]
    assert ".pass: missing" in schema_problems({"teacher": "t"}, GateMetrics)
