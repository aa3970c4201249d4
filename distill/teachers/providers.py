"""The teacher providers. Each turns a TeacherRequest into a TeacherResponse and nothing more:
caching, cost, concurrency and content-level retries live in `client.py`.

The API providers let their SDK retry 429/5xx/timeouts (exponential backoff with jitter,
Retry-After honoured) and raise TransientTeacherError for what the SDK accepts but we cannot use
(empty content, a body that does not parse), which the client retries.
"""

from __future__ import annotations

import asyncio
import os
import time

from distill.teachers.base import (
    CacheMiss,
    TeacherError,
    TeacherRequest,
    TeacherResponse,
    TokenLogprobs,
    TransientTeacherError,
)
from distill.teachers.cache import cache_key


def _api_key(env_name: str, provider: str, required: bool) -> str | None:
    key = os.environ.get(env_name)
    if not key and required:
        raise TeacherError(
            f"teacher.provider={provider} needs an API key in the environment variable {env_name} "
            f"(export {env_name}=…, or name another variable in teacher.api_key_env); keys are never read from params"
        )
    return key


def _chat_kwargs(request: TeacherRequest) -> dict:
    """OpenAI-style chat arguments, shared by the openai and llamacpp providers."""
    kwargs = {"messages": list(request.messages), "temperature": request.temperature, "max_tokens": request.max_tokens}
    if request.temperature > 0:
        kwargs["seed"] = request.sample_index  # distinct, reproducible samples
    if request.top_logprobs:
        kwargs.update(logprobs=True, top_logprobs=request.top_logprobs)
    return kwargs


def _scrub(message: str, secret: str | None) -> str:
    return message.replace(secret, "***") if secret else message


class OpenAITeacher:
    """OpenAI, or any OpenAI-compatible server (vLLM, Ollama, llama.cpp server) via `base_url`."""

    provider = "openai"
    max_concurrency = None

    def __init__(self, model: str, base_url: str | None, api_key_env: str | None, timeout_s: float, max_retries: int):
        import openai

        self.model = model
        env_name = api_key_env or "OPENAI_API_KEY"
        # A self-hosted server usually takes any key; the real API needs one.
        key = _api_key(env_name, self.provider, required=base_url is None)
        self._secret = key
        self._openai = openai
        from openai.types.chat import ChatCompletion

        self._completion_type = ChatCompletion
        self._client = openai.AsyncOpenAI(
            api_key=key or "not-needed", base_url=base_url, timeout=timeout_s, max_retries=max_retries
        )

    async def complete(self, request: TeacherRequest) -> TeacherResponse:
        openai = self._openai
        kwargs = {"model": self.model, **_chat_kwargs(request)}
        try:
            # The SDK's generic post keeps its retries and error types but skips the per-call
            # TypedDict transform of `create`, which costs more CPU than the call itself at
            # high concurrency on a small machine.
            response = await self._client.post("/chat/completions", body=kwargs, cast_to=self._completion_type)
        except (openai.APIResponseValidationError, ValueError) as e:  # a 200 whose body is not a completion
            raise TransientTeacherError(f"malformed response: {_scrub(str(e), self._secret)[:200]}") from None
        except openai.APIStatusError as e:
            raise TeacherError(f"HTTP {e.status_code}: {_scrub(str(e), self._secret)[:300]}") from None
        except openai.APIError as e:  # connection errors and timeouts, after the SDK's own retries
            raise TeacherError(f"{type(e).__name__}: {_scrub(str(e), self._secret)[:300]}") from None
        if not response.choices or not response.choices[0].message.content:
            raise TransientTeacherError("empty response")
        choice = response.choices[0]
        usage = response.usage
        cached = 0
        if usage is not None and getattr(usage, "prompt_tokens_details", None) is not None:
            cached = usage.prompt_tokens_details.cached_tokens or 0
        logprobs = None
        if request.top_logprobs and choice.logprobs is not None and choice.logprobs.content:
            logprobs = [
                TokenLogprobs(t.token, t.logprob, [(a.token, a.logprob) for a in (t.top_logprobs or [])])
                for t in choice.logprobs.content
            ]
        return TeacherResponse(
            text=choice.message.content,
            input_tokens=(usage.prompt_tokens - cached) if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            cache_read_tokens=cached,
            logprobs=logprobs,
            finish_reason=choice.finish_reason,
        )

    async def aclose(self) -> None:
        await self._client.close()


class AnthropicTeacher:
    """The Messages API; the system block (instructions and schema) is marked for prompt caching.

    The current Messages API takes no sampling temperature: the model samples with its own
    settings, so repeated self-consistency samples differ naturally (each has its own cache key).
    """

    provider = "anthropic"
    max_concurrency = None

    def __init__(self, model: str, base_url: str | None, api_key_env: str | None, timeout_s: float, max_retries: int):
        import anthropic

        self.model = model
        key = _api_key(api_key_env or "ANTHROPIC_API_KEY", self.provider, required=True)
        self._secret = key
        self._anthropic = anthropic
        self._client = anthropic.AsyncAnthropic(
            api_key=key, base_url=base_url, timeout=timeout_s, max_retries=max_retries
        )

    async def complete(self, request: TeacherRequest) -> TeacherResponse:
        anthropic = self._anthropic
        if request.top_logprobs:
            raise TeacherError("the anthropic provider cannot return logprobs; use a local teacher for KD")
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        kwargs = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m["role"], "content": m["content"]} for m in request.messages if m["role"] != "system"
            ],
        }
        if system:
            kwargs["system"] = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
        try:
            response = await self._client.messages.create(**kwargs)
        except (anthropic.APIResponseValidationError, ValueError) as e:
            raise TransientTeacherError(f"malformed response: {_scrub(str(e), self._secret)[:200]}") from None
        except anthropic.APIStatusError as e:
            raise TeacherError(f"HTTP {e.status_code}: {_scrub(str(e), self._secret)[:300]}") from None
        except anthropic.APIError as e:
            raise TeacherError(f"{type(e).__name__}: {_scrub(str(e), self._secret)[:300]}") from None
        text = "".join(block.text for block in response.content if block.type == "text")
        if not text:
            raise TransientTeacherError("empty response")
        usage = response.usage
        return TeacherResponse(
            text=text,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_write_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_tokens=usage.cache_read_input_tokens or 0,
            finish_reason=response.stop_reason,
        )

    async def aclose(self) -> None:
        await self._client.close()


class LlamaCppTeacher:
    """A GGUF model in-process (the offline default), on the batched llama.cpp runtime: the
    client's concurrent calls become sequences decoded together, `slots` per step, sharing the
    KV cache of their common prompt prefix."""

    provider = "llamacpp"

    def __init__(self, model: str, path, n_ctx: int, threads: int, slots: int):
        from distill.inference.llamacpp import LlamaRuntime

        self.model = model
        self.max_concurrency = slots
        self._runtime = LlamaRuntime(path, n_ctx=n_ctx, threads=threads, slots=slots)

    async def complete(self, request: TeacherRequest) -> TeacherResponse:
        from distill.inference.llamacpp import Sampling

        ids, stops = self._runtime.chat_prompt(list(request.messages))
        sampling = Sampling(
            temperature=request.temperature,
            seed=request.sample_index,
            max_tokens=request.max_tokens,
            top_logprobs=request.top_logprobs,
        )
        try:
            done = await asyncio.wrap_future(self._runtime.submit(ids, sampling, stops))
        except ValueError as e:
            raise TeacherError(f"params.yaml: teacher.n_ctx: {e}") from None
        except RuntimeError as e:  # a failed decode fails this call (recorded), not the stage
            raise TeacherError(f"llama.cpp: {e}") from None
        logprobs = None
        if done.logprobs is not None:
            logprobs = [TokenLogprobs(token, logprob, top) for token, logprob, top in done.logprobs]
        return TeacherResponse(
            text=done.text,
            input_tokens=done.prompt_tokens,
            output_tokens=done.completion_tokens,
            logprobs=logprobs,
            finish_reason=done.finish_reason,
            seconds=round(done.seconds, 4),
        )

    async def aclose(self) -> None:
        self._runtime.close()


class HFTeacher:
    """A local transformers model on the one transformers runtime (distill/inference/hf.py);
    unlike API teachers it can score any token, so it is the KD teacher of choice when the
    student shares its tokenizer. One call at a time: the runtime is not thread-safe."""

    provider = "hf"
    max_concurrency = 1

    def __init__(self, model: str, path, threads: int):
        from distill.inference.hf import HFRuntime

        self.model = model
        self._runtime = HFRuntime(str(path), threads)
        self._lock = asyncio.Lock()

    async def complete(self, request: TeacherRequest) -> TeacherResponse:
        async with self._lock:
            return await asyncio.to_thread(self._complete, request)

    def _complete(self, request: TeacherRequest) -> TeacherResponse:
        ids = self._runtime.chat_ids(list(request.messages))
        start = time.perf_counter()
        (done,) = self._runtime.generate(
            [ids], request.max_tokens, request.temperature, request.sample_index, request.top_logprobs or 0
        )
        logprobs = None
        if done.logprobs is not None:
            decode = self._runtime.tokenizer.decode
            logprobs = [
                TokenLogprobs(decode([token]), logprob, [(decode([i]), v) for i, v in top])
                for token, logprob, top in done.logprobs
            ]
        return TeacherResponse(
            text=done.text,
            input_tokens=len(ids),
            output_tokens=len(done.ids),
            logprobs=logprobs,
            finish_reason="stop" if done.finished else "length",
            seconds=round(time.perf_counter() - start, 4),
        )

    async def aclose(self) -> None:
        self._runtime.close()


class ReplayTeacher:
    """`teacher.provider: replay`: answers only from the cache, under the cache keys of the
    provider that wrote it (`teacher.replay_of`), so a pulled cache can never spend money. The
    client looks in the cache first; anything reaching this teacher is a miss."""

    max_concurrency = None

    def __init__(self, replay_of: str, model: str):
        self.provider = replay_of
        self.model = model

    async def complete(self, request: TeacherRequest) -> TeacherResponse:
        key = cache_key(self.provider, self.model, request)
        last = str(request.messages[-1].get("content", "")) if request.messages else ""
        raise CacheMiss(
            f"teacher.provider: replay: no cached answer for key {key} ({self.provider} {self.model}, "
            f"sample {request.sample_index}, last message {last[:80]!r}). Replay serves only answers already "
            "in the stage's teacher cache: `dvc pull` it, or set teacher.provider back to a real teacher"
        )

    async def aclose(self) -> None:
        return None
