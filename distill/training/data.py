"""Training records: the exact chat prompt evaluation uses, and the answer as the completion."""

from __future__ import annotations

from distill.examples import Example
from distill.tasks.base import Task


def prompt_completion(task: Task, example: Example) -> dict:
    """A conversational prompt/completion record: trl applies the chat template and computes the
    loss on the completion tokens only, so the student learns to answer, not to echo prompts."""
    return {
        "prompt": task.messages(example),
        "completion": [{"role": "assistant", "content": example.output}],
    }


def build_dataset(task: Task, examples: list[Example]):
    from datasets import Dataset

    return Dataset.from_list([prompt_completion(task, ex) for ex in examples])
