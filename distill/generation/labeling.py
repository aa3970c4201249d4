"""How a candidate gets its label from the teacher's answers, judged by what the answers do when
executed, not by how they are written:

- `verify`: a candidate that comes with a proposed answer is kept when every independent answer
  gives the proposal's result (verification by agreement);
- `vote`: a question without a proposal keeps the answer a strict majority of samples agree on
  (self-consistency).
"""

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
    return Vote(_preferred(task, candidate, [answers[i] for i in agreeing_idx]), None, size, n)


def verify(task: Task, candidate: Example, sample_texts: list[str]) -> Vote:
    """Keep the candidate when every answer runs and gives its proposed answer's result (the
    task's symmetric equality rule, as in `vote`). The label is an answer, not the proposal: it is
    what the teacher writes for the prompt the student will see."""
    n = len(sample_texts)
    answers = [task.extract(text, candidate) for text in sample_texts]
    outcomes = [task.answer_outcome(a, candidate) for a in answers]
    running = [o for o in outcomes if o is not None]
    if len(running) < n:
        return Vote(None, "no_answer_runs", 0, n)
    proposed = task.answer_outcome(candidate.output, candidate)
    agreeing = sum(proposed is not None and task.outcomes_agree(o, proposed) for o in running)
    if agreeing < n:
        return Vote(None, "disagrees_with_proposal", agreeing, n)
    return Vote(_preferred(task, candidate, answers), None, n, n)


def _preferred(task: Task, candidate: Example, agreeing: list[str]) -> str:
    """Among answers that agree: the task's preference, then the most frequent text, then the first."""
    texts = Counter(task.normalize_output(a) for a in agreeing)
    return max(agreeing, key=lambda a: (task.rank(a, candidate), texts[task.normalize_output(a)]))
