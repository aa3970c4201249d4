"""Decode speed as a user feels it: one question at a time, prompt processing included."""

from __future__ import annotations

from distill.config import EvaluateConfig
from distill.evaluation.records import Latency
from distill.examples import Example
from distill.inference.base import ChatModel
from distill.models import GGUFSource
from distill.tasks.base import Grading


def decode_speed(model: ChatModel, task: Grading, examples: list[Example], few_shot: bool = True) -> dict:
    """Tokens per second and seconds per answer over `examples`, answered one by one, under the
    few-shot prompt or (`few_shot` False) the student's.

    One answer first warms the model up (and fills its prompt-prefix cache, which both runtimes
    reuse across questions), so load time and the first long prefix are not counted.
    """
    if not examples:
        raise ValueError("decode_speed needs at least one example")
    model.generate([task.prompt(examples[0], few_shot=few_shot)])
    seconds = tokens = 0.0
    for example in examples:
        (answer,) = model.generate([task.prompt(example, few_shot=few_shot)])
        if answer.tokens is None:
            raise ValueError(f"{model.name}: the runtime did not report how many tokens it generated")
        seconds += answer.seconds
        tokens += answer.tokens
    return {
        "tokens_per_s": round(tokens / seconds, 2) if seconds else 0.0,
        "seconds_per_answer": round(seconds / len(examples), 4),
        "tokens": int(tokens),
        "n": len(examples),
    }


def gguf_latency(
    source: GGUFSource, task: Grading, examples: list[Example], config: EvaluateConfig, n_ctx: int, few_shot: bool
) -> Latency:
    """`decode_speed` of a GGUF over the first `evaluate.speed_questions` of `examples`, on a fresh
    one-slot llama.cpp runtime with `evaluate.threads`: how the teacher and every exported GGUF
    are timed, so their latency ratio compares like with like. Adds the file's `bytes` (None for
    a hub file)."""
    from distill.inference.llamacpp import LlamaCppChat

    model = LlamaCppChat(
        "timed", source, n_ctx=n_ctx, threads=config.threads, max_tokens=config.max_new_tokens, slots=1
    )
    try:
        speed = decode_speed(model, task, examples[: config.speed_questions], few_shot=few_shot)
    finally:
        model.close()
    return {**speed, "bytes": source.path.stat().st_size if source.path else None}
