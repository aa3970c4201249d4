"""Stage evaluate: the exported student, graded on the test split on the batched llama.cpp runtime.

Every GGUF in models/export (f16 and each quantization) answers all test questions under the
student prompt; the one the Modelfile ships is the `student`. Each is timed one question at a time,
and the merged transformers fp32 checkpoint answers the first `evaluate.hf_check_questions`.

Outputs data/eval/student.json (what metrics/export.json held before, plus the student's metrics
entry; the report stage merges it into metrics/eval.json) and data/eval/student_predictions.jsonl.
"""

from __future__ import annotations

from distill.config import load_params
from distill.evaluation.run import test_examples
from distill.export.verify import grade_exports
from distill.io import write_json, write_jsonl
from distill.layouts import EXPORT, PREPARED, RESOURCES, STUDENT_PREDICTIONS, STUDENT_RESULTS
from distill.tasks import make_task
from stages import run_stage


def main() -> None:
    params = load_params()
    examples = test_examples(params.evaluate, PREPARED)
    with make_task(params.task, PREPARED / RESOURCES) as task:
        results, records = grade_exports(EXPORT, task, examples, params.evaluate, params.export)
    write_jsonl(STUDENT_PREDICTIONS, records)
    write_json(STUDENT_RESULTS, results)
    for name, m in results["files"].items():
        print(
            f"{name:>24}: {m['execution_accuracy']:.1%}, first answers {m['first_answer_accuracy']:.1%} "
            f"({m['delta_vs_f16']:+.1%} vs f16), {m['bytes'] / 2**20:.0f} MiB, {m['seconds_per_answer']:.2f} s/answer"
            f"{'  (shipped)' if m['shipped'] else ''}{'  FLAGGED' if m['flagged'] else ''}"
        )
    if check := results["hf_check"]:
        print(
            f"{'HF fp32 check':>24}: {check['hf_fp32']:.1%} vs f16 GGUF {check['gguf_f16']:.1%} on {check['n']} "
            f"questions, {check['identical_answers']:.0%} identical answers"
        )


if __name__ == "__main__":
    run_stage(main, "evaluate")
