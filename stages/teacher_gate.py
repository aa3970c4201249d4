"""Stage teacher_gate: grade the teacher on the teacher-validation split; stop the DAG if it is weak.

Outputs: metrics/teacher_gate.json, data/teacher_cache/gate/ (every teacher response).
"""

from __future__ import annotations

import sys
from contextlib import closing

from distill.config import load_params
from distill.evaluation.gate import gate_message, run_gate
from distill.evaluation.harness import Repair
from distill.examples import read_examples
from distill.io import write_json
from distill.layouts import PREPARED, RESOURCES, TEACHER_VAL, stage_metrics, teacher_cache
from distill.tasks import make_task
from distill.teachers import make_client
from distill.teachers.chat import TeacherChat
from stages import run_stage


def main() -> None:
    params = load_params()
    examples = read_examples(PREPARED / TEACHER_VAL)
    spec = f"{params.teacher.provider}:{params.teacher.model}"
    with (
        make_task(params.task, PREPARED / RESOURCES) as task,
        closing(
            TeacherChat("teacher", make_client(params.teacher, teacher_cache("gate")), params.evaluate.max_new_tokens)
        ) as teacher,
    ):
        metrics = run_gate(teacher, spec, task, examples, params.gate, Repair.of(params.evaluate))
    write_json(stage_metrics("teacher_gate"), metrics)
    message = gate_message(metrics)
    print(message, file=sys.stdout if metrics["pass"] else sys.stderr)
    if not metrics["pass"]:
        sys.exit(1)


if __name__ == "__main__":
    run_stage(main, "teacher_gate")
