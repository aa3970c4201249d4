"""The teacher as a ChatModel, so the evaluation harness grades it exactly like any other model,
while every call still goes through the cache and the ledger."""

from __future__ import annotations

from distill.inference.base import Generation
from distill.teachers.base import TeacherError, TeacherRequest
from distill.teachers.client import TeacherClient


class TeacherChat:
    def __init__(self, name: str, client: TeacherClient, max_new_tokens: int):
        self.name = name
        self.client = client
        self.client.progress = False  # the evaluation harness shows its own bar
        self.max_new_tokens = max_new_tokens
        # Hand the client many conversations at once, so API teachers run them concurrently.
        self.batch_size = max(1, client.concurrency) * 4

    def requests(
        self, conversations: list[list[dict]], temperature: float = 0.0, sample_index: int = 0
    ) -> list[TeacherRequest]:
        return [
            TeacherRequest(tuple(c), temperature=temperature, max_tokens=self.max_new_tokens, sample_index=sample_index)
            for c in conversations
        ]

    def generate(
        self, conversations: list[list[dict]], temperature: float = 0.0, sample_index: int = 0
    ) -> list[Generation]:
        """Greedy answers; with temperature > 0, the `sample_index`-th sample (cached separately)."""
        results = self.client.run(self.requests(conversations, temperature, sample_index), desc=f"{self.name} calls")
        failed = [r for r in results if r.response is None]
        if failed:
            # A missing answer must not be graded as a wrong one; what was answered stays cached.
            reason = self.client.budget_stop or failed[0].error
            raise TeacherError(f"{self.name}: {len(failed)} of {len(results)} calls failed: {reason}")
        return [Generation(text=r.response.text, seconds=r.response.seconds) for r in results]

    def usage(self) -> dict:
        """The client's cost ledger summary: calls, cache hits, tokens, USD, seconds."""
        return self.client.ledger.summary()

    def close(self) -> None:
        self.client.close()
