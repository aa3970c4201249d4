"""The Task interface: everything that differs between text2sql and code lives behind it.

A task owns its prompt format, output extraction, validation, execution-based scoring and the
resources it needs (databases, test harnesses). Stages only call these methods, so adding a task
touches its own module and never a stage.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from distill.config import TaskConfig
from distill.examples import Example


@dataclass(frozen=True)
class Score:
    prediction: str
    """What was extracted from the model's text and graded."""
    correct: bool
    """Execution-based: same result as the gold (text2sql) or tests pass (code)."""
    valid: bool
    """Well-formed for the task: parses, refers only to things that exist, and runs."""
    exact_match: bool
    """Normalized textual equality with the gold output."""
    error: str | None = None
    """Why it is invalid or could not run, if so."""


class Task(ABC):
    name: str

    @classmethod
    @abstractmethod
    def from_config(cls, config: TaskConfig, resources_dir: Path) -> Task:
        """The task as the stages use it, with resources built by `prepare` in `resources_dir`."""

    @abstractmethod
    def build_resources(self, source_dir: Path, out_dir: Path) -> dict:
        """Build what scoring needs (for example SQLite files) from `source_dir` into `out_dir`.

        Returns a small JSON-able summary for metrics. Raises DataError naming file:line.
        """

    @abstractmethod
    def check_example(self, example: Example, where: str) -> None:
        """Raise DataError naming `where` if the example's gold output is unusable."""

    @abstractmethod
    def messages(self, example: Example) -> list[dict]:
        """Chat messages for the model: a task system prompt first (a stable, cacheable prefix)."""

    @abstractmethod
    def extract(self, text: str) -> str:
        """Pull the answer (SQL, code) out of free model text."""

    @abstractmethod
    def score(self, text: str, example: Example) -> Score:
        """Extract, validate and grade a model's text against the example's gold output."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release open resources (database handles, sandboxes)."""
