"""The one protocol every teacher provider implements: chat messages in; text, token usage and
optional top-k logprobs out. Caching, cost, retries and concurrency wrap it once (`client.py`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

from distill.errors import TeacherError


@dataclass(frozen=True)
class TeacherRequest:
    messages: tuple[dict, ...]
    temperature: float = 0.0
    max_tokens: int = 512
    top_logprobs: int = 0
    """Ask for this many alternatives per output token (0 = no logprobs)."""
    sample_index: int = 0
    """Distinguishes repeated samples of the same prompt; also seeds sampling where supported."""

    def sampling(self) -> dict:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, "top_logprobs": self.top_logprobs}

    def to_json(self) -> dict:
        return {"messages": list(self.messages), **self.sampling(), "sample_index": self.sample_index}


@dataclass(frozen=True)
class TokenLogprobs:
    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class TeacherResponse:
    text: str
    input_tokens: int
    """Input tokens billed at the full price (cache writes and reads are counted apart)."""
    output_tokens: int
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    logprobs: list[TokenLogprobs] | None = None
    finish_reason: str | None = None
    seconds: float = 0.0
    """Wall time of the original call (kept in the cache, so replayed latencies stay true)."""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TeacherResponse:
        data = dict(data)
        if data.get("logprobs") is not None:
            data["logprobs"] = [
                TokenLogprobs(t["token"], t["logprob"], [tuple(x) for x in t.get("top", [])]) for t in data["logprobs"]
            ]
        return cls(**data)


class TransientTeacherError(TeacherError):
    """A call worth retrying: empty or malformed response, dropped connection, overload."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class CacheMiss(TeacherError):
    """A replay teacher was asked for an answer the cache does not hold. Unlike other failures it
    stops the whole stage: a replayed run must reproduce the original, not a subset of it."""


class Teacher(Protocol):
    provider: str
    model: str
    max_concurrency: int | None
    """An upper bound on useful concurrency (1 for an in-process model), or None."""

    async def complete(self, request: TeacherRequest) -> TeacherResponse: ...

    async def aclose(self) -> None: ...
