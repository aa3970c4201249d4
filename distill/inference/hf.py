"""transformers chat models on CPU: batched greedy generation with left padding."""

from __future__ import annotations

import time

from distill.inference.base import Generation


class HFChat:
    def __init__(self, name: str, checkpoint: str, batch_size: int = 8, max_new_tokens: int = 160, threads: int = 2):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.name = name
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
        self.model.eval()

    def generate(self, conversations: list[list[dict]]) -> list[Generation]:
        import torch

        prompts = [
            self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            for messages in conversations
        ]
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        start = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(
                **batch,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        per_item = (time.perf_counter() - start) / len(prompts)
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [Generation(text=t, seconds=per_item) for t in texts]
