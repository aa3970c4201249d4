"""Seed preparation: validate every seed, build task resources, and split stratified by difficulty."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path

from distill.config import PrepareConfig, TaskConfig
from distill.examples import Example, read_examples
from distill.io import DataError, atomic_dir, write_jsonl
from distill.layouts import RESOURCES, TEACHER_VAL, TEST
from distill.tasks import make_task, task_class


def stratified_split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Split into (held_out, rest) with `fraction` of each difficulty held out, reproducibly."""
    by_difficulty: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        by_difficulty[ex.difficulty].append(ex)
    rng = random.Random(seed)
    held_out, rest = [], []
    for difficulty in sorted(by_difficulty):
        group = by_difficulty[difficulty][:]
        rng.shuffle(group)
        k = round(len(group) * fraction)
        if len(group) >= 2:
            k = min(max(k, 1), len(group) - 1)
        held_out += group[:k]
        rest += group[k:]
    order = {ex.id: i for i, ex in enumerate(examples)}
    return sorted(held_out, key=lambda e: order[e.id]), sorted(rest, key=lambda e: order[e.id])


def _check_unique(examples: list[Example]) -> None:
    seen: dict[str, str] = {}
    for ex in examples:
        key = " ".join(ex.input.lower().split())
        if key in seen:
            raise DataError(f"{ex.source}: duplicate question (first at {seen[key]}): {ex.input!r}")
        seen[key] = ex.source


def _split_summary(examples: list[Example]) -> dict:
    return {"n": len(examples), "by_difficulty": dict(sorted(Counter(e.difficulty for e in examples).items()))}


def prepare_seeds(task_config: TaskConfig, config: PrepareConfig, out_dir: Path) -> dict:
    """Write `out_dir/{resources/, teacher_val.jsonl, test.jsonl}` all at once, or nothing.

    Raises DataError naming file:line for malformed seeds or gold outputs that fail.
    """
    task_class(task_config)  # an unknown task.name is named as such, not as missing seeds
    with atomic_dir(out_dir) as staging:
        examples = read_examples(task_config.seeds, require_difficulty=True)
        if not examples:
            raise DataError(f"{task_config.seeds}: no seed examples")
        _check_unique(examples)
        with make_task(task_config, staging / RESOURCES) as task:
            resources = task.build_resources(Path(task_config.source_dir), staging / RESOURCES)
            for ex in examples:
                task.check_example(ex, ex.source)
        teacher_val, test = stratified_split(examples, config.teacher_val_fraction, config.seed)
        write_jsonl(staging / TEACHER_VAL, [e.to_dict() for e in teacher_val])
        write_jsonl(staging / TEST, [e.to_dict() for e in test])
    return {
        "seeds": len(examples),
        "resources": resources,
        "teacher_val": _split_summary(teacher_val),
        "test": _split_summary(test),
    }
