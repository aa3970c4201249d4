"""GGUF models in-process through llama-cpp-python.

llama.cpp keeps the KV cache of the previous prompt and reuses the longest shared prefix, so
prompts put the stable system/schema block first and the question last.
"""

from __future__ import annotations

import time

from distill.inference.base import Generation
from distill.models import GGUFSource


def load_llama(
    source: GGUFSource,
    n_ctx: int = 4096,
    threads: int = 2,
    seed: int = 0,
    logits_all: bool = False,
    vocab_only: bool = False,
):
    """A llama_cpp.Llama for a resolved GGUF (local file or hub file). `vocab_only` loads just the
    tokenizer, in well under a second."""
    from llama_cpp import Llama

    common = dict(
        n_ctx=n_ctx,
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


class LlamaCppChat:
    batch_size = 1

    def __init__(
        self,
        name: str,
        source: GGUFSource,
        n_ctx: int = 4096,
        threads: int = 2,
        temperature: float = 0.0,
        max_tokens: int = 256,
        seed: int = 0,
    ):
        self.name = name
        self._llm = load_llama(source, n_ctx=n_ctx, threads=threads, seed=seed)
        self.temperature = temperature
        self.max_tokens = max_tokens

    def generate(
        self, conversations: list[list[dict]], temperature: float | None = None, sample_index: int = 0
    ) -> list[Generation]:
        temperature = self.temperature if temperature is None else temperature
        out = []
        for messages in conversations:
            start = time.perf_counter()
            response = self._llm.create_chat_completion(
                messages=messages, temperature=temperature, max_tokens=self.max_tokens, seed=sample_index
            )
            text = response["choices"][0]["message"]["content"] or ""
            tokens = response.get("usage", {}).get("completion_tokens")
            out.append(Generation(text=text, seconds=time.perf_counter() - start, tokens=tokens))
        return out

    def close(self) -> None:
        self._llm.close()
