"""The example record shared by seeds, synthetic data and predictions.

On disk (JSONL): `{"id": ..., "input": ..., "output": ..., "metadata": {"difficulty": ..., ...}}`.
Seeds may omit `id`; `prepare` assigns one from the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Required, TypedDict

from distill.io import DataError, read_jsonl_numbered

DIFFICULTIES = ("easy", "medium", "hard")


class Rejection(TypedDict, total=False):
    """One candidate that did not make it: a line of data/synthetic/dropped.jsonl (generation)
    or data/validated/rejected.jsonl (validation). Always a `reason` code (a `Problem.reason` or
    the stage's own: duplicate, teacher_error, no_majority, leakage, …); the rest says which
    candidate and why, as far as the stage that dropped it knows."""

    reason: Required[str]
    detail: str
    """The message behind the reason code."""
    stage: str
    """precheck: dropped before any answer was paid for."""
    votes: str
    """Agreeing answers / samples, when labeling dropped it."""
    id: str
    kind: str
    """The generation kind it was proposed as."""
    input: str
    output: str
    proposed: str
    """The teacher's proposed answer (generation)."""
    metadata: dict


@dataclass(frozen=True)
class Example:
    input: str
    output: str
    metadata: dict = field(default_factory=dict)
    id: str = ""
    source: str = field(default="", compare=False)
    """file:line it was read from, for error messages; not written out."""
    id_given: bool = field(default=True, compare=False)
    """False when `id` was assigned from the file and line rather than read."""

    @property
    def difficulty(self) -> str:
        return self.metadata.get("difficulty", "unknown")

    def to_dict(self) -> dict:
        return {"id": self.id, "input": self.input, "output": self.output, "metadata": self.metadata}


def example_from_dict(obj: dict, where: str, default_id: str = "") -> Example:
    """Build an Example, raising DataError naming `where` (file:line) on a missing or bad field."""
    for key in ("input", "output"):
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{where}: field {key!r} must be a non-empty string")
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        raise DataError(f"{where}: field 'metadata' must be an object")
    difficulty = metadata.get("difficulty")
    if "difficulty" in metadata and difficulty not in DIFFICULTIES:
        raise DataError(f"{where}: metadata.difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    example_id = obj.get("id", default_id)
    if not isinstance(example_id, str | int):
        raise DataError(f"{where}: field 'id' must be a string")
    return Example(
        input=obj["input"],
        output=obj["output"],
        metadata=metadata,
        id=str(example_id),
        source=where,
        id_given="id" in obj,
    )


def read_examples(path: str | Path, require_difficulty: bool = False) -> list[Example]:
    """Read examples from JSONL; each error names the file and line."""
    path = Path(path)
    examples = []
    seen_ids: dict[str, str] = {}
    for lineno, obj in read_jsonl_numbered(path):
        where = f"{path}:{lineno}"
        example = example_from_dict(obj, where, default_id=f"{path.stem}-{lineno:04d}")
        if require_difficulty and "difficulty" not in example.metadata:
            raise DataError(f"{where}: metadata.difficulty is required ({', '.join(DIFFICULTIES)})")
        if example.id in seen_ids:
            raise DataError(f"{where}: duplicate id {example.id!r} (first at {seen_ids[example.id]})")
        seen_ids[example.id] = where
        examples.append(example)
    return examples
