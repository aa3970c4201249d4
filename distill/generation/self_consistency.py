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
    candidate came with a proposed answer, only if that answer behaves the same way."""
    n = len(sample_texts)
    answers = [task.extract(text) for text in sample_texts]
    signatures = [task.answer_signature(a, candidate) for a in answers]
    groups = Counter(s for s in signatures if s is not None)
    if not groups:
        return Vote(None, "no_answer_runs", 0, n)
    signature, size = groups.most_common(1)[0]
    if size * 2 <= n:
        return Vote(None, "no_majority", size, n)
    if candidate.output and task.answer_signature(candidate.output, candidate) != signature:
        return Vote(None, "disagrees_with_proposal", size, n)
    # Among the agreeing answers: the task's preference, then the most frequent text, then the first.
    agreeing = [a for a, s in zip(answers, signatures, strict=True) if s == signature]
    texts = Counter(task.normalize_output(a) for a in agreeing)
    output = max(agreeing, key=lambda a: (task.rank(a, candidate), texts[task.normalize_output(a)]))
    return Vote(output, None, size, n)
