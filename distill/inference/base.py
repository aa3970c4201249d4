"""The chat-model interface the evaluation harness drives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Generation:
    text: str
    seconds: float
    """Wall time for this answer; for a batch, the batch time divided by its size."""
    tokens: int | None = None
    """Tokens generated for this answer, where the runtime reports them."""


class ChatModel(Protocol):
    name: str
    batch_size: int
    """How many conversations `generate` takes at once to be efficient."""

    def generate(
        self, conversations: list[list[dict]], temperature: float = 0.0, sample_index: int = 0
    ) -> list[Generation]:
        """Answers, one per conversation, in order: greedy, or with temperature > 0 sampled and
        seeded by `sample_index` (so sample i is reproducible, for pass@k)."""
        ...

    def usage(self) -> dict | None:
        """What answering cost, where it is metered (a teacher's ledger summary: calls, cache hits,
        tokens, USD, seconds); None for a local model."""
        ...

    def close(self) -> None:
        """Free the weights and threads; the model answers nothing after it."""
        ...
