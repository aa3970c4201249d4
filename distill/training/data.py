"""Training records: the exact chat prompt evaluation uses, and the answer as the completion."""

from __future__ import annotations

import random
from dataclasses import dataclass

from distill.config import ConfigError
from distill.examples import Example
from distill.tasks.base import Grading


def capped(examples: list[Example], max_examples: int, seed: int) -> list[Example]:
    """At most `max_examples` of `examples` (0 = all): a sample seeded with `seed`, in file order,
    so a smaller cap draws from the same mix of kinds rather than the file's first kinds."""
    if not max_examples or max_examples >= len(examples):
        return examples
    keep = set(random.Random(seed).sample(range(len(examples)), max_examples))
    return [e for i, e in enumerate(examples) if i in keep]


def prompt_completion(task: Grading, example: Example, *, few_shot: bool = False) -> dict:
    """A conversational prompt/completion record: trl applies the chat template and computes the
    loss on the completion tokens only, so the student learns to answer, not to echo prompts. The
    prompt is the student's (`Task.student_messages`), the one every inference path uses;
    `few_shot` gives the teacher's instead (what KD scores the answer after)."""
    return {
        "prompt": task.prompt(example, few_shot=few_shot),
        "completion": [{"role": "assistant", "content": example.output}],
    }


def build_dataset(task: Grading, examples: list[Example]):
    from datasets import Dataset

    return Dataset.from_list([prompt_completion(task, ex) for ex in examples])


@dataclass(frozen=True)
class TokenizedExample:
    """One training sequence as the student sees it: the chat-templated prompt and answer, and
    where the answer starts. KD aligns the teacher's soft labels to exactly these tokens."""

    example_id: str
    input_ids: list[int]
    completion_start: int
    text: str
    """The same sequence as text, special tokens included, for tokenizer comparisons."""


def tokenize_example(tokenizer, task: Grading, example: Example, *, few_shot: bool = False) -> TokenizedExample:
    """Tokenize as trl does for prompt/completion data: the prompt with the generation prompt,
    then the full conversation, whose first tokens must be the prompt's. The student's prompt, or
    with `few_shot` the teacher's."""
    record = prompt_completion(task, example, few_shot=few_shot)
    prompt_ids = _chat_ids(tokenizer, record["prompt"], add_generation_prompt=True)
    full = record["prompt"] + record["completion"]
    ids = _chat_ids(tokenizer, full, add_generation_prompt=False)
    if ids[: len(prompt_ids)] != prompt_ids:
        raise ConfigError(
            f"example {example.id}: the student's chat template renders the prompt differently inside the "
            "full conversation, so the answer tokens cannot be located"
        )
    text = tokenizer.apply_chat_template(full, tokenize=False)
    return TokenizedExample(example.id, ids, len(prompt_ids), text)


def _chat_ids(tokenizer, messages: list[dict], add_generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, add_generation_prompt=add_generation_prompt
    )
    return list(out["input_ids"])


def check_lengths(sequences: list[TokenizedExample], max_length: int) -> None:
    """Truncation would cut the answer (it comes last), so over-long examples are an error."""
    lengths = [len(s.input_ids) for s in sequences]
    too_long = sum(n > max_length for n in lengths)
    if too_long:
        raise ConfigError(
            f"params.yaml: train.max_length: {too_long} of {len(lengths)} training sequences are longer than "
            f"{max_length} tokens (the longest has {max(lengths)}); raise train.max_length"
        )
