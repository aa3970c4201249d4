"""How often one repair turn makes a failing teacher answer run, greedy against sampled.

    python benchmarks/repair_turn.py [--cases 10] [--temperatures 0 0.7]

The cases are teacher answers from the generate stage's cache (data/teacher_cache/generate): the
task's own answer prompt, for synthetic questions, never the test split. Every answer that fails
to run is a case, one per question, in cache-key order. Each case gets one repair turn (the task's
repair request, the same as evaluation sends) at each temperature, seeded as evaluation seeds it.

Printed: per case the error sent back and what the reply does, then per temperature how many
replies run and how many repeat the failing query word for word. "Runs" is not "correct": these
questions have no gold. The configured teacher answers through a throwaway cache, so the
pipeline's caches are untouched. Needs `dvc repro generate` first, with `task.name: text2sql`
(the cases borrow the first test question's database).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.config import load_params  # noqa: E402
from distill.evaluation.harness import sampling_kwargs  # noqa: E402
from distill.evaluation.run import test_examples  # noqa: E402
from distill.examples import Example  # noqa: E402
from distill.layouts import RESOURCES  # noqa: E402
from distill.tasks import make_task  # noqa: E402
from distill.teachers import make_client  # noqa: E402
from distill.teachers.chat import TeacherChat  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def failing_answers(task, like: Example, cache_dir: Path, limit: int) -> list[tuple[Example, list[dict], str, str]]:
    """(example, prompt, answer, problem) for cached answers to the task's own prompt that fail to run."""
    cases, seen = [], set()
    for path in sorted(cache_dir.glob("*/*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        messages = entry["request"]["messages"]
        question = messages[-1]["content"]
        example = Example(input=question, output="", metadata=like.metadata, id=path.stem[:12])
        if question in seen or messages != task.messages(example):
            continue  # a proposal prompt, or a question already taken
        problem = task.answer_problem(entry["response"]["text"], example)
        if problem:
            seen.add(question)
            cases.append((example, messages, entry["response"]["text"], problem))
        if len(cases) == limit:
            break
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 0.7])
    args = parser.parse_args()

    params = load_params(REPO / "params.yaml")
    if params.task.name != "text2sql":
        sys.exit(f"params.yaml: task.name is {params.task.name!r}; this benchmark reads text2sql answers")
    prepared = REPO / "data/prepared"
    task = make_task(params.task, prepared / RESOURCES)
    like = test_examples(params.evaluate, prepared)[0]
    cases = failing_answers(task, like, REPO / "data/teacher_cache/generate", args.cases)
    if not cases:
        sys.exit("no failing teacher answers in data/teacher_cache/generate: run `dvc repro generate` first")
    with tempfile.TemporaryDirectory() as cache:
        teacher = TeacherChat("teacher", make_client(params.teacher, Path(cache)), params.evaluate.max_new_tokens)
        try:
            results = {}
            for temperature in args.temperatures:
                sampling = sampling_kwargs(temperature, seed=1)  # evaluation's seed for turn 1 of a greedy answer
                runs = repeats = 0
                for example, messages, answer, problem in cases:
                    (reply,) = teacher.generate([task.repair_messages(messages, answer, problem)], **sampling)
                    after = task.answer_problem(reply.text, example)
                    repeated = task.extract(reply.text) == task.extract(answer)
                    runs += after is None
                    repeats += repeated
                    print(f"T={temperature} | {problem} -> {'runs' if after is None else after}", flush=True)
                results[temperature] = (runs, repeats)
        finally:
            teacher.close()
            task.close()
    print(f"\n{len(cases)} failing teacher answers, one repair turn each:")
    for temperature, (runs, repeats) in results.items():
        print(f"  temperature {temperature}: {runs}/{len(cases)} replies run, {repeats} repeat the failing query")


if __name__ == "__main__":
    main()
