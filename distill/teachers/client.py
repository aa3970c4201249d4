"""Everything around the provider protocol, once for all providers: the cache, the cost ledger and
budget cap, bounded concurrency, retries with backoff, and a progress bar."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from distill.teachers.base import (
    CacheMiss,
    Teacher,
    TeacherError,
    TeacherRequest,
    TeacherResponse,
    TransientTeacherError,
)
from distill.teachers.cache import TeacherCache, cache_key
from distill.teachers.ledger import BudgetExceeded, CostLedger, estimate_input_tokens


@dataclass(frozen=True)
class CallResult:
    request: TeacherRequest
    response: TeacherResponse | None
    cached: bool = False
    error: str | None = None
    """Why there is no response: the provider's error, or "budget" when the cap stopped the call."""


class TeacherClient:
    """Runs batches of requests through a provider. A response is written to the cache the moment
    it arrives and before anything uses it; cached requests are replayed and never sent again."""

    def __init__(
        self,
        teacher: Teacher,
        cache: TeacherCache,
        ledger: CostLedger,
        concurrency: int = 8,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        progress: bool = True,
    ):
        self.teacher = teacher
        self.cache = cache
        self.ledger = ledger
        limit = teacher.max_concurrency
        self.concurrency = min(concurrency, limit) if limit else concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.progress = progress
        self._in_flight = 0
        self.budget_stop: str | None = None
        """Set once the budget cap refused a call; later uncached calls are not attempted."""
        # One loop for the client's life: SDK HTTP pools are bound to the loop that created them.
        self._loop = asyncio.new_event_loop()

    # -- one call ---------------------------------------------------------------------------------
    def key(self, request: TeacherRequest) -> str:
        return cache_key(self.teacher.provider, self.teacher.model, request)

    async def _call(self, request: TeacherRequest, semaphore: asyncio.Semaphore) -> CallResult:
        key = self.key(request)
        cached = self.cache.get(key)
        if cached is not None:
            self.ledger.record_cache_hit(cached)
            return CallResult(request, cached, cached=True)
        if self.budget_stop:
            return CallResult(request, None, error="budget")
        async with semaphore:
            reservation = await self._reserve(request)
            if reservation is None:
                return CallResult(request, None, error="budget")
            self._in_flight += 1  # until the call is settled in the ledger, so the budget waits for it
            try:
                response = await self._with_retries(request)
                # Persisted before anyone sees it; in a thread, so the fsync does not stall other calls.
                await asyncio.to_thread(
                    self.cache.put, key, self.teacher.provider, self.teacher.model, request, response
                )
                self.ledger.record_call(response, reservation)
                return CallResult(request, response)
            except CacheMiss:
                raise
            except TeacherError as e:
                self.ledger.release(reservation)
                self.ledger.failures += 1
                return CallResult(request, None, error=str(e))
            finally:
                self._in_flight -= 1

    async def _reserve(self, request: TeacherRequest) -> float | None:
        """Reserve the call's worst-case cost. When the cap refuses it while other calls are in
        flight, wait for them to settle (their real cost is usually far below the worst case) and
        try again; stop only when nothing is in flight, so spend ends within one call of the cap."""
        while True:
            if self.budget_stop:
                return None
            try:
                return self.ledger.reserve(request)
            except BudgetExceeded as e:
                if self._in_flight == 0:
                    self.budget_stop = str(e)
                    return None
            await asyncio.sleep(0.01)

    async def _with_retries(self, request: TeacherRequest) -> TeacherResponse:
        for attempt in range(self.max_retries + 1):
            start = time.perf_counter()
            try:
                response = await self.teacher.complete(request)
            except TransientTeacherError as e:
                if attempt == self.max_retries:
                    raise TeacherError(f"{e} (gave up after {attempt + 1} attempts)") from None
                # Full jitter keeps many clients from retrying in lockstep; Retry-After wins when given.
                delay = e.retry_after if e.retry_after is not None else self.backoff_s * 2**attempt
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                continue
            if not response.seconds:
                response = dataclasses.replace(response, seconds=round(time.perf_counter() - start, 4))
            return response
        raise AssertionError("unreachable")

    # -- batches ----------------------------------------------------------------------------------
    def run(
        self,
        requests: Sequence[TeacherRequest],
        desc: str = "teacher",
        on_result: Callable[[int, CallResult], dict | None] | None = None,
    ) -> list[CallResult]:
        """Answer every request (cache first), in input order, with a progress bar.

        `on_result(i, result)` is called as each request's result arrives (in arrival order); a
        dict it returns is shown in the bar (for example the pairs kept so far)."""
        return self._loop.run_until_complete(self._run(list(requests), desc, on_result))

    async def _run(
        self, requests: list[TeacherRequest], desc: str, on_result: Callable[[int, CallResult], dict | None] | None
    ) -> list[CallResult]:
        semaphore = asyncio.Semaphore(self.concurrency)
        # The same request twice in a batch is sent once; the repeat is served like a cache hit.
        first: dict[str, int] = {}
        for i, request in enumerate(requests):
            first.setdefault(self.key(request), i)
        unique = sorted(first.values())
        results: dict[int, CallResult] = {}
        with tqdm(total=len(requests), desc=desc, unit="call", disable=not self.progress) as bar:

            def arrived(i: int, result: CallResult) -> None:
                extra = (on_result(i, result) if on_result else None) or {}
                bar.update(1)
                bar.set_postfix(
                    cached=self.ledger.cache_hits, usd=f"{self.ledger.spent_usd:.4f}", **extra, refresh=False
                )

            async def one(i: int) -> None:
                results[i] = await self._call(requests[i], semaphore)
                arrived(i, results[i])

            await asyncio.gather(*(one(i) for i in unique))
            out = []
            for i, request in enumerate(requests):
                j = first[self.key(request)]
                if i != j:
                    # Counted, not costed: the one call made for both was paid (or counted) once.
                    self.ledger.cache_hits += results[j].response is not None
                    arrived(i, dataclasses.replace(results[j], cached=True))
                out.append(results[j] if i == j else dataclasses.replace(results[j], cached=True))
        return out

    def estimate(self, requests: Sequence[TeacherRequest]) -> dict:
        """What running `requests` would cost, calling nothing: uncached calls, estimated tokens and
        an upper bound in USD (every answer at its full `max_tokens`)."""
        todo = [r for r in requests if self.cache.get(self.key(r)) is None]
        input_tokens = sum(estimate_input_tokens(r) for r in todo)
        output_tokens = sum(r.max_tokens for r in todo)
        usd = (input_tokens * self.ledger.input_price + output_tokens * self.ledger.output_price) / 1e6
        return {
            "calls": len(todo),
            "cached": len(requests) - len(todo),
            "input_tokens": input_tokens,
            "output_tokens_max": output_tokens,
            "usd_max": round(usd, 4),
        }

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self.teacher.aclose())
        finally:
            self._loop.close()
