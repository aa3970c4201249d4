"""The task's fixed prompt opening, saved beside the exported model so that serving, asking and
the Modelfile prompt it exactly as evaluation did."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from distill.errors import ExportError
from distill.examples import Example
from distill.io import read_json, write_json
from distill.layouts import PROMPT_FILE
from distill.tasks.base import Grading


@dataclass(frozen=True)
class PromptSpec:
    task: str
    prefix: list[dict]
    """The student prompt's messages before the question (`Task.student_messages`)."""
    metadata: dict
    """The metadata of the example the prefix was built for (its database, for text2sql); a new
    question is asked in the same context."""

    def example(self, question: str) -> Example:
        return Example(input=question, output="", metadata=dict(self.metadata))

    def with_prefix(self, messages: list[dict]) -> list[dict]:
        """`messages` as the model was trained to see them: the prefix first, unless the caller
        brought their own system prompt."""
        if any(m.get("role") == "system" for m in messages):
            return messages
        return [*self.prefix, *messages]


def prompt_spec(task: Grading, example: Example) -> PromptSpec:
    """The student's prompt (`Task.student_messages`) before the question, for the Modelfile,
    `serve` and `ask`."""
    messages = task.student_messages(example)
    if not messages or messages[-1]["role"] != "user" or messages[0]["role"] != "system":
        raise ExportError(f"task {task.name}: a prompt must open with a system message and end with the user turn")
    return PromptSpec(task.name, messages[:-1], dict(example.metadata))


def save_prompt_spec(spec: PromptSpec, folder: Path) -> None:
    write_json(Path(folder) / PROMPT_FILE, {"task": spec.task, "prefix": spec.prefix, "metadata": spec.metadata})


def load_prompt_spec(folder: Path) -> PromptSpec:
    path = Path(folder) / PROMPT_FILE
    if not path.is_file():
        raise ExportError(f"{path} not found: run `dvc repro export` first")
    data = read_json(path)
    if not isinstance(data, dict) or not {"task", "prefix", "metadata"} <= data.keys():
        raise ExportError(f"{path}: not a prompt spec (task, prefix, metadata); run `dvc repro export` again")
    return PromptSpec(data["task"], data["prefix"], data["metadata"])
