"""Label precision and yield of verification settings, on the teacher-validation questions.

    python benchmarks/verify_settings.py [--settings 1:0 2:0.7 3:0.7] [--cache DIR]

Each setting is `samples:temperature` for `generate.verify`; the rest of params.yaml is used as
is. For each, the label-precision probe (distill/generation/precision.py) runs the generation
path on the teacher-validation questions with their gold answers hidden, and prints the share
of questions that got a label (yield), the share of labels matching the gold (precision, Wilson
95% CI) and the teacher sequences spent. Answers are cached in `--cache`, so settings share the
proposals and a re-run is free.
Needs `dvc repro prepare` (data/prepared/) and the configured teacher.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.config import VerifyConfig, load_params  # noqa: E402
from distill.examples import read_examples  # noqa: E402
from distill.generation.precision import measure_label_precision  # noqa: E402
from distill.layouts import RESOURCES, TEACHER_VAL  # noqa: E402
from distill.tasks import make_task  # noqa: E402
from distill.teachers import make_client  # noqa: E402

PREPARED = Path("data/prepared")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=["1:0", "2:0.7", "3:0.7"])
    parser.add_argument("--cache", default="data/teacher_cache/verify_settings")
    args = parser.parse_args()
    params = load_params()
    task = make_task(params.task, PREPARED / RESOURCES)
    questions = read_examples(PREPARED / TEACHER_VAL)
    client = make_client(params.teacher, args.cache)
    try:
        for setting in args.settings:
            samples, temperature = setting.split(":")
            verify = VerifyConfig(samples=int(samples), temperature=float(temperature))
            run = dataclasses.replace(params, generate=dataclasses.replace(params.generate, verify=verify))
            before, start = client.ledger.calls + client.ledger.cache_hits, time.perf_counter()
            report = measure_label_precision(run.generate, run.evaluate.max_new_tokens, task, questions, client)
            spent = client.ledger.calls + client.ledger.cache_hits - before
            verified = report["by_path"]["verified"]
            print(
                f"verify.samples={samples} verify.temperature={temperature} questions={report['questions']} "
                f"kept={report['n']} yield={report['n'] / report['questions']:.3f} "
                f"precision={report['value']} ci95={report['ci95']} "
                f"verified={verified['correct']}/{verified['n']} voted={report['by_path']['voted']['correct']}/"
                f"{report['by_path']['voted']['n']} sequences={spent} seconds={time.perf_counter() - start:.0f} "
                f"empty_result_proposals={report['empty_result_proposals']}",
                flush=True,
            )
    finally:
        client.close()
        task.close()


if __name__ == "__main__":
    main()
