"""The student card: a trained student folder describes itself, so whoever loads it (inference,
export) needs no trainer import, as a nanoGPT checkpoint carries its own config.

File: models/student/distill_student.json (`layouts.STUDENT_CARD`), a JSON object.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from distill.errors import DataError
from distill.io import read_json, write_json
from distill.layouts import STUDENT_CARD


class StudentCard(TypedDict):
    base_model: str
    """The `student.model` spec training started from (an alias or hub id, never a machine's path)."""
    checkpoint: str
    """The transformers checkpoint it resolved to on the training machine."""
    method: str
    """`train.method`: lora or full."""
    loss: str
    """The loss actually used: kd or sft."""


def write_card(student_dir: str | Path, card: StudentCard) -> None:
    write_json(Path(student_dir) / STUDENT_CARD, card)


def load_card(student_dir: str | Path) -> StudentCard:
    """The card of the student in `student_dir`; DataError naming the file when it is missing or
    malformed, or lacks a field."""
    path = Path(student_dir) / STUDENT_CARD
    card = read_json(path)
    missing = [k for k in StudentCard.__annotations__ if not (isinstance(card, dict) and isinstance(card.get(k), str))]
    if missing:
        raise DataError(
            f"{path}: not a student card: {missing[0]!r} is missing or not a string; re-run `dvc repro train`"
        )
    return card
