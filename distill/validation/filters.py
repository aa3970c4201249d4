"""Validate synthetic examples: task checks (for SQL: parse, schema, read-only execution, non-empty
result), refusals, duplicates, and leakage from the test split. No bad pair reaches training."""

from __future__ import annotations

import dataclasses
import difflib
import random
import re
from collections import Counter
from dataclasses import dataclass, field

from distill.config import ValidateConfig
from distill.examples import Example, Rejection
from distill.tasks.base import Task

REFUSAL = re.compile(
    r"\b(I'?m sorry|I am sorry|I apologi[sz]e|I can(?:no|')t (?:help|assist|answer|provide|do)|I am unable|"
    r"I'?m unable|As an AI|I'?m not able to)\b",
    re.IGNORECASE,
)


def normalize_question(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def similar(a: str, b: str, threshold: float) -> bool:
    """difflib ratio >= threshold, with difflib's cheap upper bounds checked first."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return (
        matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold and matcher.ratio() >= threshold
    )


@dataclass
class ValidationResult:
    train: list[Example] = field(default_factory=list)
    val: list[Example] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def metrics(self, total: int) -> dict:
        reasons = Counter(r["reason"] for r in self.rejected)
        kept = len(self.train) + len(self.val)
        by_kind: dict[str, Counter] = {}
        for ex in self.train + self.val:
            by_kind.setdefault(ex.metadata.get("kind", "unknown"), Counter())["kept"] += 1
        for r in self.rejected:
            by_kind.setdefault(r.get("metadata", {}).get("kind", "unknown"), Counter())["rejected"] += 1
        return {
            "candidates": total,
            "valid": kept,
            "valid_ratio": round(kept / total, 4) if total else 0.0,
            "train": len(self.train),
            "val": len(self.val),
            "val_parents": len({parent_of(ex) for ex in self.val}),
            "rejected": dict(sorted(reasons.items())),
            "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        }


def validate_examples(
    task: Task, examples: list[Example], test: list[Example], config: ValidateConfig
) -> ValidationResult:
    """Keep what passes every check, in order; split the kept about 90/10 (by `validate.val_fraction`)
    by parent seed (`split_by_parent`)."""
    test_questions = [normalize_question(t.input) for t in test]
    test_outputs = [(task.context(t), task.normalize_output(t.output)) for t in test]
    kept: list[Example] = []
    kept_questions: list[str] = []
    kept_pairs: set[tuple[str, str, str]] = set()
    result = ValidationResult()

    def reject(ex: Example, reason: str, detail: str = "") -> None:
        result.rejected.append(
            {
                "id": ex.id,
                "reason": reason,
                "detail": detail,
                "input": ex.input,
                "output": ex.output,
                "metadata": ex.metadata,
            }
        )

    for ex in examples:
        if REFUSAL.search(ex.input) or REFUSAL.search(ex.output):
            reject(ex, "refusal", "the text reads as a refusal")
            continue
        if task.answer_outcome(task.extract(ex.input, ex), ex) is not None:
            # Small teachers sometimes put the answer where the question belongs.
            reject(ex, "question_is_answer", "the question is itself a runnable answer")
            continue
        problems = task.problems(ex)
        if problems:
            reject(ex, problems[0].reason, "; ".join(p.detail for p in problems))
            continue
        ex = dataclasses.replace(ex, output=task.canonical_output(ex.output, ex))
        question = normalize_question(ex.input)
        output = task.normalize_output(ex.output)
        db = task.context(ex)
        leak_q = next(
            (t for t, q in zip(test, test_questions, strict=True) if similar(question, q, config.leakage_similarity)),
            None,
        )
        if leak_q is not None:
            reject(ex, "leakage_question", f"too close to test question {leak_q.id}: {leak_q.input!r}")
            continue
        leak_o = next(
            (
                t
                for t, (tdb, o) in zip(test, test_outputs, strict=True)
                if tdb == db and similar(output, o, config.leakage_similarity)
            ),
            None,
        )
        if leak_o is not None:
            reject(ex, "leakage_output", f"too close to the gold answer of test question {leak_o.id}")
            continue
        if (db, question, output) in kept_pairs:
            reject(ex, "duplicate", "the same question and answer are already kept")
            continue
        twin = next((q for q in kept_questions if similar(question, q, config.near_duplicate_similarity)), None)
        if twin is not None:
            reject(ex, "near_duplicate_question", f"too close to a kept question: {twin!r}")
            continue
        kept.append(ex)
        kept_questions.append(question)
        kept_pairs.add((db, question, output))

    result.train, result.val = split_by_parent(kept, config.val_fraction, config.seed)
    return result


def parent_of(example: Example) -> str:
    """The seed a synthetic example was made from (`metadata["parent"]`), else its own id."""
    return str(example.metadata.get("parent") or example.id)


def split_by_parent(examples: list[Example], val_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(train, val), file order kept, with whole parent groups (a seed question's paraphrases and
    variants) on one side, so no question's rewording is on both. In a seeded random order, each
    group goes to val when it fits within `val_fraction` of the examples; when none fits, the
    first group that is not every example goes alone. Train is never emptied."""
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(parent_of(ex), []).append(i)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    n_val = round(len(examples) * val_fraction)
    val_idx: set[int] = set()
    for parent in order:
        if len(val_idx) + len(groups[parent]) <= n_val:
            val_idx.update(groups[parent])
    if n_val and not val_idx:
        first = next((p for p in order if len(groups[p]) < len(examples)), None)
        val_idx.update(groups[first] if first is not None else [])
    return (
        [ex for i, ex in enumerate(examples) if i not in val_idx],
        [ex for i, ex in enumerate(examples) if i in val_idx],
    )
