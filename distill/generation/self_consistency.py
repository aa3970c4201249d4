"""Self-consistency: sample the teacher several times and keep the answer most samples agree on,
judged by what the answers do when executed, not by how they are written."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from distill.examples import Example
from distill.tasks.base import Task


@dataclass(frozen=True)
class Vote:
    output: str | None
    """The majority answer, or None when the candidate is dropped."""
    reason: str | None
    """Why it was dropped: no_answer_runs, no_majority or disagrees_with_proposal."""
    agreeing: int
    samples: int


def vote(task: Task, candidate: Example, sample_texts: list[str]) -> Vote:
    """Keep the execution-majority answer if more than half the samples give it, and, when the
    candidate came with a proposed answer, only if that answer behaves the same way.

    Answers agree under the task's one equality rule, in its symmetric form for two answers
    (`Task.outcomes_agree`: for SQL, the same rows up to float tolerance and column order, in
    order only when both order them). The winner is the answer most samples agree with (ties: the
    first), so the result does not depend on the order the samples came in."""
    n = len(sample_texts)
    answers = [task.extract(text, candidate) for text in sample_texts]
    outcomes = [task.answer_outcome(a, candidate) for a in answers]
    running = [i for i, outcome in enumerate(outcomes) if outcome is not None]
    if not running:
        return Vote(None, "no_answer_runs", 0, n)
    supporters = {i: [j for j in running if j == i or task.outcomes_agree(outcomes[i], outcomes[j])] for i in running}
    winner = max(running, key=lambda i: len(supporters[i]))
    agreeing_idx = supporters[winner]
    size = len(agreeing_idx)
    if size * 2 <= n:
        return Vote(None, "no_majority", size, n)
    if candidate.output:
        proposed = task.answer_outcome(candidate.output, candidate)
        if proposed is None or not task.outcomes_agree(outcomes[winner], proposed):
            return Vote(None, "disagrees_with_proposal", size, n)
    # Among the agreeing answers: the task's preference, then the most frequent text, then the first.
    agreeing = [answers[i] for i in agreeing_idx]
    texts = Counter(task.normalize_output(a) for a in agreeing)
    output = max(agreeing, key=lambda a: (task.rank(a, candidate), texts[task.normalize_output(a)]))
    return Vote(output, None, size, n)
