"""Stage teacher_gate: grade the teacher on the teacher-validation split; stop the DAG if it is weak.

Outputs: metrics/teacher_gate.json, data/teacher_cache/gate/ (every teacher response).
"""

from __future__ import annotations

import sys
from pathlib import Path

from distill.config import load_params
from distill.evaluation.gate import gate_message, run_gate
from distill.io import write_json
from stages import run_stage

PREPARED = Path("data/prepared")
TEACHER_CACHE = Path("data/teacher_cache/gate")


def main() -> None:
    metrics = run_gate(load_params(), PREPARED, TEACHER_CACHE)
    write_json("metrics/teacher_gate.json", metrics)
    message = gate_message(metrics)
    print(message, file=sys.stdout if metrics["pass"] else sys.stderr)
    if not metrics["pass"]:
        sys.exit(1)


if __name__ == "__main__":
    run_stage(main, "teacher_gate")
