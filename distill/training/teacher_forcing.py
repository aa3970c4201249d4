"""Teacher-forced soft labels: the teacher's top-k next-token logprobs at every answer token of a
sequence the student will train on.

Only a local teacher can do this. An API returns logprobs for its own samples, in its own
tokenizer, never for a given sequence. And the labels mean something only when teacher and
student share one vocabulary, so that is checked on the real training text before the teacher's
weights are even loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from distill.config import TeacherConfig
from distill.errors import ConfigError, SoftLabelsUnavailable
from distill.models import resolve_gguf, resolve_hf, resolve_param

SCORING_PROVIDERS = ("llamacpp", "hf")
TAIL_FLOOR = math.log(1e-12)
"""The smallest tail log-mass stored (and used for the student): a top-k covering the whole
distribution leaves log(0), which no loss can compare."""


@dataclass(frozen=True)
class TopK:
    """Per answer token: the teacher's k most likely next tokens, their logprobs, and the log of
    the probability mass left outside them (so the k+1 buckets sum to one)."""

    ids: np.ndarray
    """(n, k) int32"""
    logprobs: np.ndarray
    """(n, k) float32, descending"""
    tail: np.ndarray
    """(n,) float32, log(1 - sum(exp(logprobs)))"""


def top_k_from_logits(logits: np.ndarray, k: int) -> TopK:
    """Top-k of log_softmax(logits) per row, computed in float64 so the tail mass of a peaked
    distribution does not round to log(0)."""
    x = logits.astype(np.float64)
    x -= x.max(axis=1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    idx = np.argpartition(-logp, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(logp, idx, axis=1)
    order = np.argsort(-top, axis=1)
    idx, top = np.take_along_axis(idx, order, axis=1), np.take_along_axis(top, order, axis=1)
    covered = np.exp(top).sum(axis=1)
    tail = np.log(np.clip(1.0 - covered, math.exp(TAIL_FLOOR), None))
    return TopK(idx.astype(np.int32), top.astype(np.float32), tail.astype(np.float32))


class Scorer(Protocol):
    name: str

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, special-token markup parsed, nothing added."""

    def vocab_size(self) -> int: ...

    def score(self, ids: list[int], start: int, k: int) -> TopK:
        """Soft labels for tokens `start..len(ids)-1`, each predicted from the tokens before it."""

    def close(self) -> None: ...


class LlamaCppScorer:
    """A GGUF teacher on the batched llama.cpp runtime. Sequences of one task share a long prompt
    prefix, which the runtime keeps between calls, so each sequence costs about its own tail."""

    def __init__(self, name: str, source, n_ctx: int, threads: int):
        from distill.inference.llamacpp import load_llama

        self.name = name
        self._source, self._n_ctx, self._threads = source, n_ctx, threads
        # The tokenizer alone, so a tokenizer mismatch is found before the weights load.
        self._vocab = load_llama(source, n_ctx=256, threads=threads, vocab_only=True)
        self._runtime = None

    def tokenize(self, text: str) -> list[int]:
        return list(self._vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def vocab_size(self) -> int:
        return self._vocab.n_vocab()

    def score(self, ids: list[int], start: int, k: int) -> TopK:
        if len(ids) > self._n_ctx:
            raise ConfigError(
                f"params.yaml: teacher.n_ctx: a training sequence has {len(ids)} tokens, more than the teacher's "
                f"context of {self._n_ctx}"
            )
        if self._runtime is None:
            from distill.inference.llamacpp import LlamaRuntime

            self._runtime = LlamaRuntime(self._source, n_ctx=self._n_ctx, threads=self._threads, slots=1)
        return top_k_from_logits(self._runtime.score_logits(ids, start), k)

    def close(self) -> None:
        self._vocab.close()
        if self._runtime is not None:
            self._runtime.close()


class HFScorer:
    """A transformers teacher: one full forward pass per sequence."""

    def __init__(self, name: str, checkpoint: str, threads: int):
        import torch
        from transformers import AutoTokenizer

        torch.set_num_threads(threads)
        self.name = name
        self._checkpoint = checkpoint
        self._tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        self._model = None

    def tokenize(self, text: str) -> list[int]:
        return list(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def vocab_size(self) -> int:
        return len(self._tokenizer)

    def score(self, ids: list[int], start: int, k: int) -> TopK:
        import torch

        if self._model is None:
            from distill.inference.hf import load_causal_lm

            self._model = load_causal_lm(self._checkpoint).eval()
        with torch.inference_mode():
            logits = self._model(torch.tensor([ids])).logits[0, start - 1 : len(ids) - 1]
        return top_k_from_logits(logits.float().numpy(), k)

    def close(self) -> None:
        self._model = None


def make_scorer(config: TeacherConfig, n_ctx: int) -> Scorer:
    if config.provider not in SCORING_PROVIDERS:
        raise SoftLabelsUnavailable(
            f"needs a teacher that can score given token sequences, and teacher.provider {config.provider} "
            "cannot: an API returns logprobs only for its own samples, in its own tokenizer.",
            f" Use teacher.provider {' or '.join(SCORING_PROVIDERS)} with a model that shares the student's "
            "tokenizer, set train.loss: auto, or set train.kd.fallback_to_sft: true to train with SFT",
        )
    if config.provider == "llamacpp":
        source = resolve_param("teacher.model", resolve_gguf, config.model)
        return LlamaCppScorer(config.model, source, max(n_ctx, config.n_ctx), config.threads)
    return HFScorer(config.model, resolve_param("teacher.model", resolve_hf, config.model), config.threads)


def check_shared_tokenizer(scorer: Scorer, student_name: str, student_tokenizer, sequences) -> None:
    """Every training sequence must be the same token ids under the teacher's tokenizer, or the
    teacher's distribution at a position is about a different token than the student's."""
    for seq in sequences:
        teacher_ids = scorer.tokenize(seq.text)
        if teacher_ids == seq.input_ids:
            continue
        i = next(
            (j for j, (a, b) in enumerate(zip(teacher_ids, seq.input_ids, strict=False)) if a != b),
            min(len(teacher_ids), len(seq.input_ids)),
        )
        student_piece = student_tokenizer.decode(seq.input_ids[i : i + 1]) if i < len(seq.input_ids) else "<end>"
        teacher_piece = f"id {teacher_ids[i]}" if i < len(teacher_ids) else "<end>"
        raise SoftLabelsUnavailable(
            f"needs the teacher ({scorer.name}) and the student ({student_name}) to share a tokenizer, and they "
            f"do not: example {seq.example_id} is {len(seq.input_ids)} student tokens but {len(teacher_ids)} "
            f"teacher tokens, first differing at token {i} (student {student_piece!r}, teacher {teacher_piece}).",
            " Pick a student from the teacher's family (the bundled teacher pairs with student.model: "
            "qwen2.5-coder-0.5b-instruct), set train.loss: auto, or set train.kd.fallback_to_sft: true to train "
            "with SFT",
        )
    largest = max((max(s.input_ids) for s in sequences), default=0)
    if largest >= scorer.vocab_size():
        raise SoftLabelsUnavailable(
            f"needs a shared tokenizer: the student uses token id {largest}, beyond the teacher's vocabulary of "
            f"{scorer.vocab_size()}"
        )
