"""Cost ledger: prices per million tokens, spend so far, and the hard budget cap.

Before a call is sent, its worst case (estimated prompt plus the full `max_tokens`) is reserved
against the budget, so concurrent calls can never push spend past the cap by more than one call.
"""

from __future__ import annotations

from dataclasses import dataclass

from distill.errors import BudgetExceeded
from distill.teachers.base import TeacherRequest, TeacherResponse

# USD per million (input, output) tokens, list prices as of 2026; params override them.
KNOWN_PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4": (15.0, 75.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4o": (2.5, 10.0),
    "deepseek-chat": (0.27, 1.1),
    "deepseek-reasoner": (0.55, 2.19),
}
# Anthropic bills cache writes at 1.25x and cache reads at 0.1x the input price.
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1


def known_price(model: str) -> tuple[float, float] | None:
    """The table price for a model name; the longest matching prefix wins (dated names match)."""
    matches = [name for name in KNOWN_PRICES if model.startswith(name) or f"/{name}" in model]
    return KNOWN_PRICES[max(matches, key=len)] if matches else None


def resolve_prices(
    provider: str, model: str, input_price: float | None, output_price: float | None
) -> tuple[float, float]:
    """Prices from params, else the table; local providers cost nothing; unknown API models are
    an error, because a silent $0 would disable the budget cap."""
    if input_price is not None and output_price is not None:
        return input_price, output_price
    if provider in ("llamacpp", "hf", "replay"):  # replay never calls
        return input_price or 0.0, output_price or 0.0
    table = known_price(model)
    if table is None:
        if provider == "openai":
            return input_price or 0.0, output_price or 0.0  # a self-hosted server; the README says to set prices
        raise ValueError(
            f"no known price for {provider} model {model!r}: set teacher.price_input_per_mtok and "
            "teacher.price_output_per_mtok in params.yaml"
        )
    return (
        input_price if input_price is not None else table[0],
        output_price if output_price is not None else table[1],
    )


def estimate_input_tokens(request: TeacherRequest) -> int:
    """A deliberately generous estimate (3 characters per token, plus per-message overhead)."""
    chars = sum(len(str(m.get("content", ""))) for m in request.messages)
    return chars // 3 + 8 * len(request.messages) + 8


@dataclass
class CostLedger:
    input_price: float
    output_price: float
    budget_usd: float | None = None
    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    seconds: float = 0.0
    # What the answers served from the cache cost when they were first made (their tokens and
    # seconds are stored with them), so a warm re-run still reports what its data cost.
    cached_input_tokens: int = 0
    cached_output_tokens: int = 0
    cached_usd: float = 0.0
    cached_seconds: float = 0.0

    def cost(self, response: TeacherResponse) -> float:
        return (
            response.input_tokens * self.input_price
            + response.cache_write_tokens * self.input_price * CACHE_WRITE_FACTOR
            + response.cache_read_tokens * self.input_price * CACHE_READ_FACTOR
            + response.output_tokens * self.output_price
        ) / 1e6

    def worst_case(self, request: TeacherRequest) -> float:
        return (estimate_input_tokens(request) * self.input_price + request.max_tokens * self.output_price) / 1e6

    def reserve(self, request: TeacherRequest) -> float:
        """Reserve the call's worst case, or raise BudgetExceeded if that could break the cap."""
        amount = self.worst_case(request)
        if self.budget_usd is not None and self.spent_usd + self.reserved_usd + amount > self.budget_usd:
            raise BudgetExceeded(
                f"teacher.budget_usd ${self.budget_usd:.4f} reached: ${self.spent_usd:.4f} spent, "
                f"the next call could cost up to ${amount:.4f}"
            )
        self.reserved_usd += amount
        return amount

    def release(self, reservation: float) -> None:
        self.reserved_usd = max(0.0, self.reserved_usd - reservation)

    def record_call(self, response: TeacherResponse, reservation: float) -> None:
        self.release(reservation)
        self.calls += 1
        self.input_tokens += response.input_tokens
        self.output_tokens += response.output_tokens
        self.cache_write_tokens += response.cache_write_tokens
        self.cache_read_tokens += response.cache_read_tokens
        self.spent_usd += self.cost(response)
        self.seconds += response.seconds or 0.0

    def record_cache_hit(self, response: TeacherResponse) -> None:
        """Count an answer served from the cache, with what it originally cost at today's prices."""
        self.cache_hits += 1
        self.cached_input_tokens += response.input_tokens  # as `input_tokens`: cache writes and reads apart
        self.cached_output_tokens += response.output_tokens
        self.cached_usd += self.cost(response)
        self.cached_seconds += response.seconds or 0.0

    def summary(self) -> dict:
        return {
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "failed_calls": self.failures,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "usd": round(self.spent_usd, 6),
            "seconds": round(self.seconds, 1),
            "cached_input_tokens": self.cached_input_tokens,
            "cached_output_tokens": self.cached_output_tokens,
            "cached_usd": round(self.cached_usd, 6),
            "cached_seconds": round(self.cached_seconds, 1),
            "price_input_per_mtok": self.input_price,
            "price_output_per_mtok": self.output_price,
            "budget_usd": self.budget_usd,
        }
