"""The teacher gate: a teacher that cannot answer the held-out seeds will not write good data."""

from __future__ import annotations

from distill.config import GateConfig
from distill.evaluation.harness import Repair, evaluate_model
from distill.evaluation.metrics import repair_fields, summarize
from distill.evaluation.records import GateMetrics
from distill.examples import Example
from distill.inference.base import ChatModel
from distill.layouts import stage_metrics
from distill.tasks.base import Grading


def run_gate(
    teacher: ChatModel, spec: str, task: Grading, examples: list[Example], config: GateConfig, repair: Repair
) -> GateMetrics:
    """Grade `teacher` (named `spec`, `provider:model`) on the teacher-validation `examples` by
    execution, with `repair` turns as every model gets; returns metrics/teacher_gate.json: pass
    when execution accuracy reaches `gate.min_accuracy`, the failures, and the teacher's usage."""
    records = evaluate_model(teacher, task, examples, repair=repair)
    summary = summarize(records)
    threshold = config.min_accuracy
    return {
        "teacher": spec,
        "split": "teacher_val",
        **{k: summary[k] for k in ("execution_accuracy", "ci95", "n", "correct", "valid_rate", "by_difficulty")},
        **repair_fields(summary),
        "min_accuracy": threshold,
        "pass": summary["execution_accuracy"] >= threshold,
        "teacher_usage": teacher.usage(),
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
        f"  The failed questions are listed in {stage_metrics('teacher_gate')}."
    )
