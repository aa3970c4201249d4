"""The teacher on test questions whose wording changed since a git revision: old wording against new.

    python benchmarks/reworded_questions.py [--since 9dfa8c1]

Takes the seeds file as it was at `--since` (git) and as it is now, keeps the test-split questions
(data/prepared/test.jsonl) whose text differs, and has the configured teacher answer each one in
both wordings with the evaluation's own harness and repair turn. The gold SQL is the same for both.
Printed: per question, right or wrong in each wording (and whether a repair turn was used), then
the totals. The teacher answers through a throwaway cache, so the pipeline's caches are untouched.
Needs `dvc repro prepare` first.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.config import load_params  # noqa: E402
from distill.evaluation.harness import Repair, evaluate_model  # noqa: E402
from distill.evaluation.metrics import summarize  # noqa: E402
from distill.evaluation.run import test_examples  # noqa: E402
from distill.examples import Example, read_examples  # noqa: E402
from distill.layouts import RESOURCES  # noqa: E402
from distill.tasks import make_task  # noqa: E402
from distill.teachers import make_client  # noqa: E402
from distill.teachers.chat import TeacherChat  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PREPARED = REPO / "data/prepared"


def seeds_at(revision: str, path: Path) -> dict[str, str]:
    """Seed id -> question text, as the seeds file was at `revision` (ids come from the file name)."""
    relative = (REPO / path).resolve().relative_to(REPO)
    text = subprocess.run(
        ["git", "show", f"{revision}:{relative.as_posix()}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / relative.name
        old.write_text(text, encoding="utf-8")
        return {e.id: e.input for e in read_examples(old)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", default="9dfa8c1", help="git revision with the old wording")
    args = parser.parse_args()

    params = load_params()
    old_text = seeds_at(args.since, Path(params.task.seeds))
    reworded = [e for e in test_examples(params.evaluate, PREPARED) if e.id in old_text and old_text[e.id] != e.input]
    if not reworded:
        sys.exit(f"no test question changed wording since {args.since}")
    wordings: dict[str, list[Example]] = {
        "old": [dataclasses.replace(e, input=old_text[e.id]) for e in reworded],
        "new": reworded,
    }
    task = make_task(params.task, PREPARED / RESOURCES)
    with tempfile.TemporaryDirectory() as cache:
        teacher = TeacherChat("teacher", make_client(params.teacher, Path(cache)), params.evaluate.max_new_tokens)
        try:
            graded = {
                name: evaluate_model(teacher, task, examples, repair=Repair.of(params.evaluate))
                for name, examples in wordings.items()
            }
        finally:
            teacher.close()
            task.close()

    def mark(record: dict) -> str:
        return ("right" if record["correct"] else "wrong") + (" (repaired)" if record["repairs"] else "")

    print(f"\n{len(reworded)} test questions reworded since {args.since}:")
    for old, new in zip(graded["old"], graded["new"], strict=True):
        print(f"  {old['id']}  old: {mark(old):<16} new: {mark(new)}")
    for name, records in graded.items():
        summary = summarize(records)
        print(
            f"{name} wording: {summary['correct']}/{summary['n']} right "
            f"({summary['first_answer']['correct']} on the first answer)"
        )


if __name__ == "__main__":
    main()
