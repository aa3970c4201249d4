"""Shared-prefix packing: a batch of training sequences becomes one row holding their common
opening once, followed by each sequence's own tail.

Every text2sql example opens with the same ~1,600 tokens (system prompt, schema, worked examples)
and differs only in its last ~100 (question and answer). Padding a batch computes that opening
once per sequence; packing computes it once per batch. The 4D attention mask lets each tail see
the prefix and itself only, and its position ids continue from the prefix, so every token is
computed with exactly the context and positions it has unpacked: the loss and the gradients equal
those of the padded batch (tests/test_training.py checks both). The gradient through the shared
prefix is the sum of what each sequence would send through its own copy, which is what the
padded batch sums too.

The prefix stops at least one token before the earliest answer, so the token that predicts a
tail's first answer token is in that tail, and every cross-segment prediction (a prefix or tail
end "predicting" the next tail's first token) targets a prompt token, which carries no loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from trl import SFTTrainer

from distill.inference.hf import common_prefix_length

IGNORE = -100


@dataclass(frozen=True)
class PackedRow:
    """Where each packed token comes from; built once per batch, then used to gather any
    per-token array (ids, labels, a teacher's soft labels) into the packed layout."""

    prefix_length: int
    rows: torch.Tensor
    """(T,) the source sequence of each packed token (the prefix is taken from sequence 0)."""
    positions: torch.Tensor
    """(T,) its position in that sequence: also its position id."""
    segments: torch.Tensor
    """(T,) -1 on the shared prefix, i on sequence i's tail."""

    @property
    def length(self) -> int:
        return int(self.positions.numel())

    def gather(self, padded: torch.Tensor) -> torch.Tensor:
        """(B, L, ...) right-padded per-sequence values -> (1, T, ...) in packed order."""
        return padded[self.rows, self.positions].unsqueeze(0)

    def attention_mask(self) -> torch.Tensor:
        """(1, 1, T, T) boolean, True where a query may attend to a key: causal, and across
        segments only into the shared prefix."""
        causal = torch.ones(self.length, self.length, dtype=torch.bool).tril()
        seg = self.segments
        same = (seg.unsqueeze(1) == seg.unsqueeze(0)) | (seg == -1).unsqueeze(0)
        return (causal & same)[None, None]


def shared_prefix_length(sequences: list[list[int]], completion_starts: list[int]) -> int:
    """The longest common opening of `sequences`, ending at least one token before the earliest
    completion start."""
    return max(0, min(common_prefix_length(sequences), min(completion_starts) - 1))


def pack(sequences: list[list[int]], completion_starts: list[int]) -> PackedRow:
    prefix = shared_prefix_length(sequences, completion_starts)
    rows, positions, segments = [0] * prefix, list(range(prefix)), [-1] * prefix
    for i, seq in enumerate(sequences):
        tail = range(prefix, len(seq))
        rows += [i] * len(tail)
        positions += list(tail)
        segments += [i] * len(tail)
    return PackedRow(prefix, torch.tensor(rows), torch.tensor(positions), torch.tensor(segments))


def padded(values: list[list[int]], fill: int) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence([torch.tensor(v) for v in values], batch_first=True, padding_value=fill)


def packed_inputs(packed: PackedRow, input_ids: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The model inputs for one packed row, from right-padded (B, L) ids and labels."""
    return {
        "input_ids": packed.gather(input_ids),
        "labels": packed.gather(labels),
        "position_ids": packed.positions.unsqueeze(0),
        "attention_mask": packed.attention_mask(),
    }


def completion_start(labels: list[int]) -> int:
    return next((i for i, label in enumerate(labels) if label != IGNORE), len(labels))


@dataclass
class SharedPrefixCollator:
    """Collates trl-prepared rows (`input_ids`, `labels` with -100 off the answer) into one
    shared-prefix packed row."""

    pad_token_id: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        ids = [list(f["input_ids"]) for f in features]
        labels = [list(f["labels"]) for f in features]
        packed = pack(ids, [completion_start(lab) for lab in labels])
        return packed_inputs(packed, padded(ids, self.pad_token_id), padded(labels, IGNORE))


class SharedPrefixSFTTrainer(SFTTrainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        counted = self._total_train_tokens
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.model.training:
            # trl counts attention_mask.sum(), which for a 4D mask is its true entries; the
            # tokens computed are the packed row's.
            self._total_train_tokens = counted + inputs["position_ids"].numel()
            self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
        return result
