"""The chat-model interface the evaluation harness drives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Generation:
    text: str
    seconds: float
    """Wall time for this answer; for a batch, the batch time divided by its size."""


class ChatModel(Protocol):
    name: str
    batch_size: int
    """How many conversations `generate` takes at once to be efficient."""

    def generate(self, conversations: list[list[dict]]) -> list[Generation]:
        """Greedy answers, one per conversation, in order."""
        ...
