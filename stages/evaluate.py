"""Stage evaluate: base student and teacher on the test split, one harness, graded by execution.

Outputs: data/eval/predictions.jsonl (every model's answer, graded), metrics/eval.json (with red
flags about the trained student).
"""

from __future__ import annotations

from pathlib import Path

from distill.config import load_params
from distill.evaluation.run import evaluate_models
from distill.io import write_json, write_jsonl
from stages import run_stage

PREPARED = Path("data/prepared")
TEACHER_CACHE = Path("data/teacher_cache/evaluate")
STUDENT = Path("models/student")


def main() -> None:
    params = load_params()
    metrics, records = evaluate_models(params, PREPARED, TEACHER_CACHE, STUDENT)
    write_jsonl("data/eval/predictions.jsonl", records)
    write_json("metrics/eval.json", metrics)
    for name, m in metrics["models"].items():
        low, high = m["ci95"]
        print(f"{name:>8}: execution accuracy {m['execution_accuracy']:.1%} (95% CI {low:.1%}–{high:.1%}, n={m['n']})")


if __name__ == "__main__":
    run_stage(main)
