"""Stage prepare: validate the seeds, build the task's resources, split teacher-val / test.

Outputs (all or nothing): data/prepared/{resources/, teacher_val.jsonl, test.jsonl},
metrics/prepare.json.
"""

from __future__ import annotations

from distill.config import load_params
from distill.io import write_json
from distill.layouts import PREPARED, stage_metrics
from distill.preparation import prepare_seeds
from stages import run_stage


def main() -> None:
    params = load_params()
    summary = prepare_seeds(params.task, params.prepare, PREPARED)
    write_json(stage_metrics("prepare"), summary)
    print(f"prepare: {summary['teacher_val']['n']} teacher-val, {summary['test']['n']} test examples")


if __name__ == "__main__":
    run_stage(main, "prepare")
