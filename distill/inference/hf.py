"""transformers chat models on CPU: batched greedy generation that shares the prompt prefix.

Every prompt of a task starts with the same long block (system prompt, schema, worked examples);
on 2 cores, re-encoding it for every row costs more than generating the answers. So its KV cache
is computed once and copied into each batch, and each row's own tail follows after padding:
`[prefix][pad…][question]`. The pads are masked out and position ids come from the mask, so every
row sees exactly the positions it would see alone.
"""

from __future__ import annotations

import copy
import gc
import time
from dataclasses import dataclass
from pathlib import Path

from distill.inference.base import Generation
from distill.layouts import ADAPTER_CONFIG


def common_prefix_length(rows: list[list[int]]) -> int:
    """Tokens shared by all rows, leaving at least one token of each row outside the prefix."""
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


def load_causal_lm(checkpoint: str):
    """A transformers model in fp32: a checkpoint folder or hub id, or a trained student folder
    holding a peft adapter, which is applied to its base model and merged for fast inference."""
    import torch
    from transformers import AutoModelForCausalLM

    folder = Path(checkpoint)
    if (folder / ADAPTER_CONFIG).is_file():
        from peft import PeftModel

        from distill.card import load_card
        from distill.models import resolve_hf

        # The card names the base by its spec (an alias), so the folder works on any machine.
        base = AutoModelForCausalLM.from_pretrained(resolve_hf(load_card(folder)["base_model"]), dtype=torch.float32)
        return PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    return AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)


@dataclass(frozen=True)
class Decoded:
    """One generated answer of `HFRuntime.generate`."""

    ids: list[int]
    """The answer's token ids, up to and including the end-of-sequence token."""
    text: str
    finished: bool
    """It ended with the end-of-sequence token (else it ran out of `max_new_tokens`)."""
    logprobs: list[tuple[int, float, list[tuple[int, float]]]] | None = None
    """Per answer token, with `top_logprobs`: (id, logprob, the top (id, logprob) pairs)."""


class HFRuntime:
    """One transformers causal LM in fp32 on the CPU with its tokenizer: the only place a
    transformers model is loaded for generation. `HFChat` (evaluation) and the `hf` teacher
    provider are thin adapters over it, so both decode alike (the same prompt-prefix cache, the
    same sampling: top_p 0.95, as llama.cpp samples)."""

    TOP_P = 0.95

    def __init__(self, checkpoint: str, threads: int = 2):
        import torch
        from transformers import AutoTokenizer

        torch.set_num_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        self.model = load_causal_lm(checkpoint)
        self.model.eval()
        self._prefix: list[int] = []
        self._prefix_cache = None

    def chat_ids(self, messages: list[dict]) -> list[int]:
        """The prompt's token ids under the model's chat template, ready for the answer."""
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _cache_for(self, rows: list[list[int]]):
        """The KV cache of a prefix shared by all rows; reused across batches while it still fits."""
        import torch

        p = len(self._prefix)
        if not (p and all(len(r) > p and r[:p] == self._prefix for r in rows)):
            if len(rows) == 1 and self._prefix_cache is not None:
                # One conversation at a time: its whole prompt is no shared prefix. Keep what it
                # shares with the previous prefix, by cropping that cache, as llama.cpp does.
                keep = common_prefix_length([rows[0], self._prefix])
                if keep:
                    self._prefix_cache.crop(-(p - keep))  # a negative count: tokens to drop
                    self._prefix = self._prefix[:keep]
                    return self._prefix_cache
            self._prefix = rows[0][: common_prefix_length(rows)]
            self._prefix_cache = None
            if self._prefix:
                with torch.inference_mode():
                    out = self.model(torch.tensor([self._prefix]), use_cache=True)
                self._prefix_cache = out.cache
        return self._prefix_cache

    def generate(
        self,
        rows: list[list[int]],
        max_new_tokens: int,
        temperature: float = 0.0,
        seed: int = 0,
        top_logprobs: int = 0,
    ) -> list[Decoded]:
        """Answers to the prompts `rows` (token ids), decoded together: greedy, or with
        temperature > 0 sampled, seeded by `seed`. With `top_logprobs`, each answer token's
        logprob and the top alternatives."""
        import torch

        prefix_cache = self._cache_for(rows)
        p = len(self._prefix)
        tails = [r[p:] for r in rows]
        width = max(len(t) for t in tails)
        input_ids = [self._prefix + [self.pad_id] * (width - len(t)) + t for t in tails]
        mask = [[1] * p + [0] * (width - len(t)) + [1] * len(t) for t in tails]
        kwargs = {}
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(rows))
            kwargs["cache"] = cache
        if temperature > 0:
            torch.manual_seed(seed)
            kwargs.update(do_sample=True, temperature=temperature, top_p=self.TOP_P)
        else:
            kwargs["do_sample"] = False
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=torch.tensor(input_ids),
                attention_mask=torch.tensor(mask),
                max_new_tokens=max_new_tokens,
                pad_token_id=self.pad_id,
                output_scores=bool(top_logprobs),
                return_dict_in_generate=True,
                **kwargs,
            )
        answers = [a.tolist() for a in output.sequences[:, p + width :]]
        decoded = []
        for b, ids in enumerate(answers):
            n = self._answer_length(ids)
            logprobs = None
            if top_logprobs:
                logprobs = []
                for i, token in enumerate(ids[:n]):
                    lp = torch.log_softmax(output.scores[i][b].float(), dim=-1)
                    top = torch.topk(lp, top_logprobs)
                    pairs = list(zip(top.indices.tolist(), top.values.tolist(), strict=True))
                    logprobs.append((token, float(lp[token]), pairs))
            finished = n < len(ids) or (n > 0 and ids[n - 1] == self.tokenizer.eos_token_id)
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            decoded.append(Decoded(ids[:n], text, finished, logprobs))
        return decoded

    def _answer_length(self, ids: list[int]) -> int:
        """Tokens the model generated: up to and including its end-of-sequence token (the rest of
        the row is padding after it stopped)."""
        stops = {self.tokenizer.eos_token_id, self.pad_id} - {None}
        for i, token in enumerate(ids):
            if token in stops:
                return i + 1
        return len(ids)

    def close(self) -> None:
        self.model = self._prefix_cache = None
        gc.collect()


class HFChat:
    """A transformers model as a ChatModel: batches of conversations on one `HFRuntime`."""

    def __init__(self, name: str, checkpoint: str, batch_size: int = 8, max_new_tokens: int = 160, threads: int = 2):
        self.name = name
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.runtime = HFRuntime(checkpoint, threads)

    def generate(
        self, conversations: list[list[dict]], temperature: float = 0.0, sample_index: int = 0
    ) -> list[Generation]:
        """Greedy answers; with temperature > 0, sampled ones, seeded by `sample_index` (pass@k)."""
        start = time.perf_counter()
        rows = [self.runtime.chat_ids(m) for m in conversations]
        done = self.runtime.generate(rows, self.max_new_tokens, temperature, sample_index)
        per_item = (time.perf_counter() - start) / len(rows)
        return [Generation(text=d.text, seconds=per_item, tokens=len(d.ids)) for d in done]

    def usage(self) -> None:
        return None

    def close(self) -> None:
        self.runtime.close()
