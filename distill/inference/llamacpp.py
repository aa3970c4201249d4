"""GGUF models through llama.cpp: one batched runtime that decodes many sequences per step.

`LlamaRuntime` is a thin scheduler over llama-cpp-python's low-level batch API (`llama_batch`,
`llama_decode`, a unified KV cache), after llama.cpp's own `examples/parallel`: the engine and
its samplers are llama.cpp's; this module only decides what each decode call holds.

- **Slots.** Up to `slots` sequences decode together, one token each per step; a finished one
  frees its slot for the next queued request at once (continuous batching). Newcomers' prompt
  tails are decoded in the same steps, in the room the live sequences leave.
- **A shared prefix.** Sequence 0 holds the prompt prefix the admitted requests share (system
  rules, schema, worked examples). It is computed once; a new sequence copies it (in a unified
  cache a copy only tags the same cells) and decodes only its own tail.
- **Sampling.** Each sequence has its own llama.cpp sampler chain, the one llama-cpp-python's
  `create_chat_completion` builds with its defaults (repeat penalty 1.1 over the last 64 answer
  tokens; greedy at temperature 0, else top-k 40, top-p 0.95, min-p 0.05, temperature, then a
  distribution seeded per request). So a batched answer is the answer the one-at-a-time path
  gives, up to the float rounding of a different batch shape.
- **Stops.** A sequence ends at an end-of-generation token, at a stop string or at its
  `max_tokens`, alone; the others go on.

Context: `n_ctx` is per sequence (a prompt plus its answer must fit in it). The KV cache holds
`n_ctx × (slots + 1)` cells, so every slot and the shared prefix always fit.

Everything runs in this process, in one worker thread; no child process is started.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field, replace

import numpy as np

from distill.inference.base import Generation
from distill.models import GGUFSource

PENALTY_LAST_N = 64
"""llama-cpp-python's `last_n_tokens_size` default: the repeat penalty looks this far back."""
REPEAT_PENALTY = 1.1
"""llama-cpp-python's `create_chat_completion` default, kept so answers match its one-at-a-time path."""
N_BATCH = 512
"""Most tokens in one decode step (prefill chunks and one token per live sequence)."""
MAX_SEQUENCES = 256
"""llama.cpp's LLAMA_MAX_SEQ: sequence ids per context, the shared prefix's included."""
MIN_NEW_PREFIX = 64
"""A lone request's prompt replaces the shared prefix only when it adds at least this many
tokens to what is shared: a new system prompt or schema, not just another question."""


def load_llama(
    source: GGUFSource,
    n_ctx: int = 4096,
    threads: int = 2,
    seed: int = 0,
    logits_all: bool = False,
    vocab_only: bool = False,
):
    """A llama_cpp.Llama for a resolved GGUF (local file or hub file): the high-level API that
    `serve`, `ask` and the tokenizer checks use. `vocab_only` loads just the tokenizer, in well
    under a second.

    Flash attention is on, as in llama.cpp's own default (llama-cpp-python turns it off). Its CPU
    kernel skips masked cache cells, so a sequence in a batch attends only to its own cells, not
    to every sequence's: 19.7 against 14.4 tokens/s on 16 long proposals (README)."""
    from llama_cpp import Llama

    common = dict(
        n_ctx=n_ctx,
        flash_attn=True,
        n_threads=threads,
        n_threads_batch=threads,
        seed=seed,
        logits_all=logits_all,
        vocab_only=vocab_only,
        verbose=False,
    )
    if source.path is not None:
        return Llama(model_path=str(source.path), **common)
    return Llama.from_pretrained(repo_id=source.repo_id, filename=source.filename, **common)


@dataclass(frozen=True)
class Sampling:
    """How one sequence is decoded."""

    temperature: float = 0.0
    """0 = greedy."""
    seed: int = 0
    """Seeds the sampler when temperature > 0 (the request's sample index)."""
    max_tokens: int = 256
    top_logprobs: int = 0
    """Also return this many alternatives (token, logprob) per answer token."""


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    """"stop" (end-of-generation token or stop string) or "length" (max_tokens)."""
    seconds: float
    """From admission to the last token."""
    logprobs: list[tuple[str, float, list[tuple[str, float]]]] | None = None
    token_ids: tuple[int, ...] = ()
    """The answer's tokens (the end-of-generation token excluded)."""


@dataclass
class _Job:
    prompt: list[int]
    sampling: Sampling
    stops: tuple[str, ...]
    future: Future
    slot: int = -1
    todo: list[int] = field(default_factory=list)
    """Prompt tokens not yet decoded into the slot."""
    pos: int = 0
    """Next position in the slot's sequence."""
    answer: list[int] = field(default_factory=list)
    logprobs: list | None = None
    sampler: object = None
    started: float = 0.0
    batch_index: int = -1
    """Where this job's logits are in the current step's batch (-1: none asked for)."""


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class RuntimeClosed(RuntimeError):
    """The runtime was closed while a request was waiting."""


class LlamaRuntime:
    """A GGUF model decoding up to `slots` sequences per step. Thread-safe: `submit` from any
    thread; a worker thread runs the decode loop while there is work."""

    def __init__(self, source: GGUFSource, n_ctx: int = 4096, threads: int = 2, slots: int = 8):
        import llama_cpp
        from llama_cpp import _internals

        if not 1 <= slots < MAX_SEQUENCES:
            raise ValueError(f"slots must be from 1 to {MAX_SEQUENCES - 1} (llama.cpp's sequence limit), got {slots}")
        self._lib = llama_cpp
        self.slots = slots
        self.n_ctx = n_ctx
        # The high-level object gives the weights, tokenizer, metadata and chat template; its own
        # context is kept tiny because decoding happens in the batched context below.
        self.llm = load_llama(source, n_ctx=64, threads=threads)
        # The high-level context's settings (flash attention among them), so the logits match the
        # one-at-a-time path to float rounding.
        params = llama_cpp.llama_context_params.from_buffer_copy(self.llm.context_params)
        params.n_ctx = n_ctx * (slots + 1)
        params.n_batch = N_BATCH
        params.n_ubatch = N_BATCH
        params.n_seq_max = slots + 1
        params.n_threads = threads
        params.n_threads_batch = threads
        # A unified cache: prefix cells shared by several sequences can be decoded (one stream
        # per sequence needs the prefix copied per stream, which measured slower here; README).
        params.kv_unified = True
        self._ctx = _internals.LlamaContext(model=self.llm._model, params=params, verbose=False)
        self._memory = llama_cpp.llama_get_memory(self._ctx.ctx)
        self._batch = llama_cpp.llama_batch_init(N_BATCH, 0, slots + 1)
        self._vocab = self.llm._model.vocab
        self.n_vocab = self.llm.n_vocab()
        self._format = _chat_formatter(self.llm)
        self._prefix: list[int] = []
        """Tokens held by sequence 0."""
        self._free = list(range(slots, 0, -1))
        self._live: list[_Job] = []
        self._queue: deque[_Job] = deque()
        self._lock = threading.Condition()
        self._decode_lock = threading.Lock()
        self._closed = False
        self.decode_log: deque[tuple[int, float]] = deque(maxlen=100_000)
        """(tokens, seconds) of the latest `llama_decode` calls: where the time goes
        (benchmarks/decode_profile.py)."""
        self._worker = threading.Thread(target=self._loop, name="llama-runtime", daemon=True)
        self._worker.start()

    # -- prompts ----------------------------------------------------------------------------------
    def chat_prompt(self, messages: list[dict]) -> tuple[list[int], tuple[str, ...]]:
        """Token ids of a conversation under the model's chat template, ready for the answer, and
        the template's stop strings: exactly what `create_chat_completion` would decode."""
        result = self._format(messages=messages)
        ids = self.llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        stops = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return list(ids), tuple(stops)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, special-token markup parsed, nothing added."""
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    # -- generation -------------------------------------------------------------------------------
    def submit(self, prompt: list[int], sampling: Sampling, stops: tuple[str, ...] = ()) -> Future:
        """Queue one sequence; the future resolves to its `Completion`. An empty prompt, or one
        that leaves no room for an answer in `n_ctx`, fails the future with ValueError. A future
        cancelled before its sequence starts is skipped; once started it cannot be cancelled."""
        future: Future = Future()
        if not prompt:
            future.set_exception(ValueError("an empty prompt: there is nothing to continue"))
            return future
        if len(prompt) >= self.n_ctx:
            future.set_exception(
                ValueError(f"the prompt has {len(prompt)} tokens, more than the context of {self.n_ctx} per sequence")
            )
            return future
        # As create_completion does: an answer that would overflow the context is cut to fit.
        sampling = _fit(sampling, self.n_ctx - len(prompt))
        job = _Job(prompt=list(prompt), sampling=sampling, stops=stops, future=future)
        with self._lock:
            if self._closed:
                raise RuntimeClosed("the llama.cpp runtime is closed")
            self._queue.append(job)
            self._lock.notify()
        return future

    def generate(
        self, prompts: list[list[int]], sampling: list[Sampling], stops: tuple[str, ...] = ()
    ) -> list[Completion]:
        """Decode every prompt (continuous batching across them); results in input order."""
        futures = [self.submit(p, s, stops) for p, s in zip(prompts, sampling, strict=True)]
        return [f.result() for f in futures]

    def chat(self, conversations: list[list[dict]], sampling: list[Sampling]) -> list[Completion]:
        rendered = [self.chat_prompt(m) for m in conversations]
        futures = [self.submit(ids, s, stops) for (ids, stops), s in zip(rendered, sampling, strict=True)]
        return [f.result() for f in futures]

    # -- teacher-forced scoring -------------------------------------------------------------------
    def score_logits(self, ids: list[int], start: int) -> np.ndarray:
        """Logits (len(ids) - start, n_vocab) float32 predicting tokens `start..len(ids)-1`, each
        from the tokens before it. Runs between decode steps, in the caller's thread."""
        if not 0 < start < len(ids):
            raise ValueError(f"start {start} must be inside the sequence of {len(ids)} tokens")
        if len(ids) > self.n_ctx:
            raise ValueError(f"the sequence has {len(ids)} tokens, more than the context of {self.n_ctx}")
        scratch = self.slots  # the last slot; scoring never runs beside generation (decode lock)
        with self._decode_lock:
            if self._closed:
                raise RuntimeClosed("the llama.cpp runtime is closed")
            if self._live:
                raise RuntimeError("score_logits cannot run while sequences are being generated")
            self._set_prefix(ids[: start - 1])
            shared = min(_common_prefix(ids, self._prefix), start - 1)
            self._lib.llama_memory_seq_rm(self._memory, scratch, -1, -1)
            self._lib.llama_memory_seq_cp(self._memory, 0, scratch, 0, shared)
            rows: list[np.ndarray] = []
            try:
                pos = shared
                while pos < len(ids) - 1:
                    chunk = ids[pos : min(len(ids) - 1, pos + N_BATCH)]
                    wants = [pos + i >= start - 1 for i in range(len(chunk))]
                    self._fill([(t, pos + i, (scratch,), w) for i, (t, w) in enumerate(zip(chunk, wants, strict=True))])
                    self._decode()
                    rows += [self._logits(i) for i, w in enumerate(wants) if w]
                    pos += len(chunk)
            finally:
                self._lib.llama_memory_seq_rm(self._memory, scratch, -1, -1)
        return np.stack(rows)

    # -- the decode loop --------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._live and not self._closed:
                    self._lock.wait()
                if self._closed:
                    break
                admitted = []
                while self._queue and len(admitted) < len(self._free):
                    admitted.append(self._queue.popleft())
            try:
                with self._decode_lock:
                    if admitted:
                        self._admit(admitted)
                    if self._live:
                        self._step()
            except BaseException as e:  # fail every waiting request rather than hang its caller
                self._fail_all(e, admitted)
        self._fail_all(RuntimeClosed("the llama.cpp runtime was closed"))

    def _fail_all(self, error: BaseException, admitted: list[_Job] = ()) -> None:
        with self._lock:
            jobs = [*admitted, *self._live, *self._queue]
            self._live, self._queue = [], deque()
            self._free = list(range(self.slots, 0, -1))
        with self._decode_lock:
            self._lib.llama_memory_clear(self._memory, True)
            self._prefix = []
        for job in jobs:
            with contextlib.suppress(InvalidStateError):  # already resolved, or cancelled while queued
                job.future.set_exception(error)

    def _admit(self, jobs: list[_Job]) -> None:
        """Give each job a slot holding the shared prefix; the rest of its prompt is decoded in the
        following steps, beside the live sequences' next tokens."""
        # The prefix all newcomers share (a lone one: its whole prompt but the last token, which
        # must be decoded in its own slot for its logits). It goes into sequence 0 only when it
        # is new and long (a new system prompt or schema), not just another question.
        prefix = jobs[0].prompt[: len(jobs[0].prompt) - 1]
        for job in jobs[1:]:
            prefix = prefix[: min(_common_prefix(prefix, job.prompt), len(job.prompt) - 1)]
        shared = _common_prefix(prefix, self._prefix)
        if len(prefix) - shared >= (1 if len(jobs) > 1 else MIN_NEW_PREFIX):
            self._set_prefix(prefix)
        for job in jobs:
            if not job.future.set_running_or_notify_cancel():
                continue  # cancelled while it waited: never decoded
            job.slot = self._free.pop()
            shared = min(_common_prefix(job.prompt, self._prefix), len(job.prompt) - 1)
            self._lib.llama_memory_seq_rm(self._memory, job.slot, -1, -1)
            self._lib.llama_memory_seq_cp(self._memory, 0, job.slot, 0, shared)
            job.todo, job.pos = job.prompt[shared:], shared
            job.sampler = _sampler(job.sampling, self.n_vocab)
            job.started = time.perf_counter()
            self._live.append(job)

    def _set_prefix(self, prefix: list[int]) -> None:
        """Make sequence 0 hold `prefix`, decoding only what it does not already share."""
        keep = _common_prefix(prefix, self._prefix)
        if keep < MIN_NEW_PREFIX and not self._live:
            # A new prompt family with nothing decoding: start from an empty cache, so the new
            # cells sit at the front. Attention spans up to the highest used cell, and the holes
            # earlier sequences left (long proposals) would otherwise slow every later step.
            self._lib.llama_memory_clear(self._memory, True)
            keep = 0
        self._lib.llama_memory_seq_rm(self._memory, 0, keep, -1)
        self._prefix = prefix[:keep]  # true after every chunk, so a failed decode leaves no lie
        for start in range(keep, len(prefix), N_BATCH):
            chunk = prefix[start : start + N_BATCH]
            self._fill([(t, start + i, (0,), False) for i, t in enumerate(chunk)])
            self._decode()
            self._prefix = prefix[: start + len(chunk)]

    def _step(self) -> None:
        """One decode: the next token of every generating sequence, then prompt tails in the room
        left, each prompt's last token asking for logits."""
        entries = []
        for job in self._live:
            job.batch_index = -1
            if not job.todo:
                job.batch_index = len(entries)
                entries.append((job.answer[-1], job.pos, (job.slot,), True))
                job.pos += 1
        for job in self._live:
            room = N_BATCH - len(entries)
            if not job.todo or room <= 0:
                continue
            take, job.todo = job.todo[:room], job.todo[room:]
            for i, token in enumerate(take):
                last = not job.todo and i == len(take) - 1
                if last:
                    job.batch_index = len(entries)
                entries.append((token, job.pos + i, (job.slot,), last))
            job.pos += len(take)
        self._fill(entries)
        self._decode()
        for job in list(self._live):
            if job.batch_index >= 0:
                self._advance(job, job.batch_index)

    def _advance(self, job: _Job, index: int) -> None:
        """Sample the job's next token from the logits at batch `index`; finish it at an
        end-of-generation token, a stop string or its max_tokens."""
        token = self._lib.llama_sampler_sample(job.sampler.sampler, self._ctx.ctx, index)
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            self._finish(job, "stop")
            return
        if job.sampling.top_logprobs:  # one entry per answer token, as completion_tokens counts
            job.logprobs = job.logprobs or []
            job.logprobs.append(self._alternatives(index, token, job.sampling.top_logprobs))
        job.answer.append(token)
        if any(s in self._text(job) for s in job.stops):
            self._finish(job, "stop")
        elif len(job.answer) >= job.sampling.max_tokens:
            self._finish(job, "length")

    def _finish(self, job: _Job, reason: str) -> None:
        text = self._text(job)
        hits = [text.index(s) for s in job.stops if s in text]
        if hits:
            text = text[: min(hits)]
        self._lib.llama_memory_seq_rm(self._memory, job.slot, -1, -1)
        job.sampler.close()
        job.sampler = None
        self._live.remove(job)
        with self._lock:
            self._free.append(job.slot)
        job.future.set_result(
            Completion(
                text=text,
                prompt_tokens=len(job.prompt),
                completion_tokens=len(job.answer),
                finish_reason=reason,
                seconds=time.perf_counter() - job.started,
                logprobs=job.logprobs,
                token_ids=tuple(job.answer),
            )
        )

    def _text(self, job: _Job) -> str:
        return self.llm.detokenize(job.answer, prev_tokens=job.prompt).decode("utf-8", errors="ignore")

    def _alternatives(self, index: int, token: int, k: int) -> tuple[str, float, list[tuple[str, float]]]:
        logits = self._logits(index).astype(np.float64)
        logp = logits - logits.max()
        logp -= np.log(np.exp(logp).sum())
        top = np.argsort(-logp)[:k]
        piece = self._piece
        return piece(token), float(logp[token]), [(piece(int(i)), float(logp[i])) for i in top]

    def _piece(self, token: int) -> str:
        return self.llm.detokenize([token]).decode("utf-8", errors="ignore")

    # -- llama.cpp calls --------------------------------------------------------------------------
    def _fill(self, entries: list[tuple[int, int, tuple[int, ...], bool]]) -> None:
        batch = self._batch
        for i, (token, pos, seqs, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = len(seqs)
            for j, s in enumerate(seqs):
                batch.seq_id[i][j] = s
            batch.logits[i] = logits
        batch.n_tokens = len(entries)

    def _decode(self) -> None:
        start = time.perf_counter()
        status = self._lib.llama_decode(self._ctx.ctx, self._batch)
        self.decode_log.append((self._batch.n_tokens, time.perf_counter() - start))
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status} (1: no room in the KV cache)")

    def _logits(self, index: int) -> np.ndarray:
        pointer = self._lib.llama_get_logits_ith(self._ctx.ctx, index)
        return np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,)).copy()

    def close(self) -> None:
        """Stop the worker (failing anything still queued) and free the model. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify_all()
        self._worker.join()
        with self._decode_lock:  # a score_logits call in another thread finishes first
            self._lib.llama_batch_free(self._batch)
            self._ctx.close()
            self.llm.close()

    def __enter__(self) -> LlamaRuntime:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fit(sampling: Sampling, room: int) -> Sampling:
    return sampling if sampling.max_tokens <= room else replace(sampling, max_tokens=room)


def _sampler(sampling: Sampling, n_vocab: int):
    """A llama.cpp sampler chain: create_chat_completion's defaults, so answers match its path."""
    from llama_cpp._internals import LlamaSampler

    chain = LlamaSampler()
    chain.add_penalties(
        n_vocab=n_vocab,
        penalty_last_n=PENALTY_LAST_N,
        penalty_repeat=REPEAT_PENALTY,
        penalty_freq=0.0,
        penalty_present=0.0,
    )
    if sampling.temperature <= 0:
        chain.add_greedy()
        return chain
    chain.add_top_k(40)
    chain.add_typical(1.0, 1)
    chain.add_top_p(0.95, 1)
    chain.add_min_p(0.05, 1)
    chain.add_temp(sampling.temperature)
    chain.add_dist(sampling.seed)
    return chain


def _chat_formatter(llm):
    """The chat formatter llama-cpp-python picks for this model: a template it recognizes by name,
    else the GGUF's own Jinja template, else llama-2 (Llama.__init__'s order)."""
    from llama_cpp import llama_chat_format as formats

    named = {
        "chatml": formats.format_chatml,
        "mistral-instruct": formats.format_mistral_instruct,
        "llama-3": formats.format_llama3,
        "llama-2": formats.format_llama2,
    }
    if llm.chat_format in named:
        return named[llm.chat_format]
    template = llm.metadata.get("tokenizer.chat_template")
    if llm.chat_format != "chat_template.default" or not template:
        raise ValueError(f"chat format {llm.chat_format!r} is not supported by the batched runtime")
    eos, bos = llm.token_eos(), llm.token_bos()
    return formats.Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
    )


class LlamaCppChat:
    """A GGUF model as a ChatModel on the batched runtime: the harness hands it many
    conversations and they decode together."""

    def __init__(
        self,
        name: str,
        source: GGUFSource,
        n_ctx: int = 4096,
        threads: int = 2,
        max_tokens: int = 256,
        slots: int = 8,
    ):
        self.name = name
        self.max_tokens = max_tokens
        self.runtime = LlamaRuntime(source, n_ctx=n_ctx, threads=threads, slots=slots)
        self.batch_size = slots * 4

    def generate(
        self, conversations: list[list[dict]], temperature: float = 0.0, sample_index: int = 0
    ) -> list[Generation]:
        sampling = Sampling(temperature=temperature, seed=sample_index, max_tokens=self.max_tokens)
        start = time.perf_counter()
        done = self.runtime.chat(conversations, [sampling] * len(conversations))
        per_item = (time.perf_counter() - start) / max(1, len(conversations))
        return [Generation(text=c.text, seconds=per_item, tokens=c.completion_tokens) for c in done]

    def usage(self) -> None:
        return None

    def close(self) -> None:
        self.runtime.close()
