"""Label precision: how often a label generation keeps is right, measured on questions whose
answer we know.

The teacher-validation questions go through generation's own path as candidates without their
gold answer. The teacher proposes its own answer (one sample at `generate.temperature`, as
proposals are sampled), or none when no answer can be extracted from its reply. Then, exactly
as for a synthetic candidate: a proposal the fixed checks (`Task.precheck`) reject is dropped,
one they pass is verified by agreement, and a question without a proposal is voted on.
The share of kept labels whose result matches the gold is `label_precision`, with its Wilson
95% interval.

The same questions also show what an empty result means as a label: how many proposals return
no data, and how many of those match the gold.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict

from distill.config import GenerateConfig
from distill.evaluation.metrics import wilson_interval
from distill.examples import Example
from distill.generation.run import label_candidates
from distill.tasks.base import Task
from distill.teachers import TeacherClient, TeacherRequest


def _rate(correct: int, n: int) -> dict:
    low, high = wilson_interval(correct, n) if n else (0.0, 0.0)
    return {
        "value": round(correct / n, 4) if n else None,
        "ci95": [round(low, 4), round(high, 4)],
        "n": n,
        "correct": correct,
    }


def measure_label_precision(
    config: GenerateConfig, answer_tokens: int, task: Task, questions: list[Example], client: TeacherClient
) -> dict:
    """Run the labeling path on `questions` (gold answers hidden) and grade what it keeps."""
    bare = [dataclasses.replace(q, output="", metadata={**q.metadata, "kind": "probe"}) for q in questions]
    proposals = client.run(
        [
            TeacherRequest(
                tuple(task.messages(b)),
                temperature=config.temperature,
                max_tokens=answer_tokens,
                sample_index=0,
            )
            for b in bare
        ],
        desc="label precision: propose",
    )
    candidates, golds, empty = [], [], {"proposals": 0, "matching_gold": 0}
    for question, candidate, result in zip(questions, bare, proposals, strict=True):
        proposed = task.extract(result.response.text, candidate) if result.response is not None else ""
        with_proposal = dataclasses.replace(candidate, output=proposed)
        problem = task.precheck(with_proposal) if proposed else None
        if problem is not None and problem.reason == "empty_result":
            empty["proposals"] += 1
            empty["matching_gold"] += _matches(task, question, proposed)
        if problem is not None:
            continue  # generation drops such a candidate before any answer; so does the probe
        candidates.append(with_proposal if proposed else candidate)
        golds.append(question)
    kept = label_candidates(
        config, answer_tokens, task, candidates, client, defaultdict(Counter), [], desc="label precision: answer"
    )
    by_path: dict[str, list[int]] = {"verified": [0, 0], "voted": [0, 0]}
    gold_of = {id(c): g for c, g in zip(candidates, golds, strict=True)}
    for cand, output, _ in kept:
        path = by_path["verified" if cand.output else "voted"]
        path[0] += _matches(task, gold_of[id(cand)], output)
        path[1] += 1
    correct = sum(p[0] for p in by_path.values())
    n = sum(p[1] for p in by_path.values())
    return {
        "split": "teacher_val",
        "questions": len(questions),
        **_rate(correct, n),
        "by_path": {name: _rate(c, k) for name, (c, k) in by_path.items()},
        "empty_result_proposals": empty,
    }


def _matches(task: Task, gold: Example, output: str) -> bool:
    expected = task.answer_outcome(gold.output, gold)
    got = task.answer_outcome(output, gold)
    return expected is not None and got is not None and task.same_outcome(expected, got)
