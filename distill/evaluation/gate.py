"""The teacher gate: a teacher that cannot answer the held-out seeds will not write good data."""

from __future__ import annotations

from pathlib import Path

from distill.config import Params
from distill.evaluation.harness import Repair, evaluate_model
from distill.evaluation.metrics import repair_fields, summarize
from distill.examples import read_examples
from distill.preparation import RESOURCES, TEACHER_VAL
from distill.tasks import make_task
from distill.teachers import make_client
from distill.teachers.chat import TeacherChat


def run_gate(params: Params, prepared_dir: Path, cache_dir: Path) -> dict:
    """Grade the teacher on the teacher-validation split by execution; returns the gate metrics."""
    examples = read_examples(Path(prepared_dir) / TEACHER_VAL)
    task = make_task(params.task, Path(prepared_dir) / RESOURCES)
    teacher = TeacherChat("teacher", make_client(params.teacher, cache_dir), params.evaluate.max_new_tokens)
    try:
        records = evaluate_model(teacher, task, examples, repair=Repair.of(params.evaluate))
        usage = teacher.client.ledger.summary()
    finally:
        teacher.close()
        task.close()
    summary = summarize(records)
    threshold = params.gate.min_accuracy
    return {
        "teacher": f"{params.teacher.provider}:{params.teacher.model}",
        "split": "teacher_val",
        **{k: summary[k] for k in ("execution_accuracy", "ci95", "n", "correct", "valid_rate", "by_difficulty")},
        **repair_fields(summary),
        "min_accuracy": threshold,
        "pass": summary["execution_accuracy"] >= threshold,
        "teacher_usage": usage,
        "failures": [
            {k: r[k] for k in ("id", "difficulty", "input", "gold", "prediction", "error", "repairs")}
            for r in records
            if not r["correct"]
        ],
    }


def gate_message(metrics: dict) -> str:
    low, high = metrics["ci95"]
    head = (
        f"teacher {metrics['teacher']}: execution accuracy {metrics['execution_accuracy']:.1%} "
        f"on the teacher-validation split (95% CI {low:.1%}–{high:.1%}, n={metrics['n']}); "
        f"gate.min_accuracy is {metrics['min_accuracy']:.0%}"
    )
    if metrics["pass"]:
        return head + ": gate passed"
    return (
        head + ": gate FAILED, so no synthetic data will be generated from this teacher.\n"
        "  What to do: use a stronger teacher (teacher.provider / teacher.model), improve the prompt or the worked "
        "examples (data/seeds/<task>/<db>/examples.jsonl), or reconsider whether the task is learnable as posed.\n"
        "  The failed questions are listed in metrics/teacher_gate.json."
    )
