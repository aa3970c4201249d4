"""Soft-label distillation: the loss, the batches that carry the teacher's top-k labels, and an
SFTTrainer whose loss is α·KL·T² + (1−α)·CE over answer tokens.

The teacher's distribution is known only on its top k tokens plus one bucket holding the rest of
its mass. The student's distribution is folded onto the same k+1 buckets (its probability of each
of the teacher's k tokens, and the remainder), and the KL is taken between the two bucketed
distributions, each tempered by T. With a full vocabulary (k = V) this is the textbook KL; with a
small k it keeps the loss honest where the teacher is unsure (the tail is large) instead of
renormalizing the top k to certainty. trl's server distillation uses the same tail bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from trl import SFTTrainer

from distill.training.packing import IGNORE, pack, packed_inputs
from distill.training.soft_labels import SoftLabelSet
from distill.training.teacher_forcing import TAIL_FLOOR

TEACHER_KEYS = ("teacher_ids", "teacher_logprobs", "teacher_tail")


def _tempered(buckets: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.log_softmax(buckets / temperature, dim=-1)


def kd_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_ids: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    teacher_tail: torch.Tensor,
    alpha: float,
    temperature: float,
    num_items: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """logits (B, L, V); labels (B, L) with -100 off the answer; teacher_* (B, L, k) and (B, L),
    aligned with labels: row j is the teacher's distribution for token j. Averaged over answer
    tokens (or over `num_items`, the count across gradient-accumulation steps)."""
    logits, labels = logits[:, :-1], labels[:, 1:]
    mask = labels != IGNORE
    student = logits[mask].float()
    targets = labels[mask]
    n = mask.sum() if num_items is None else num_items
    n = torch.as_tensor(n, device=logits.device).clamp(min=1)
    ce = F.cross_entropy(student, targets, reduction="sum")
    if alpha == 0:
        return ce / n
    t_ids = teacher_ids[:, 1:][mask].long()
    t_buckets = torch.cat([teacher_logprobs[:, 1:][mask], teacher_tail[:, 1:][mask].unsqueeze(-1)], dim=-1)
    s_logp = F.log_softmax(student, dim=-1)
    s_top = s_logp.gather(-1, t_ids)
    # The student's mass outside the teacher's top k, summed in log space (1 - sum p would cancel
    # catastrophically), floored like the teacher's.
    s_tail = torch.logsumexp(s_logp.scatter(-1, t_ids, float("-inf")), dim=-1).clamp(min=TAIL_FLOOR)
    s_buckets = torch.cat([s_top, s_tail.unsqueeze(-1)], dim=-1)
    t_logp = _tempered(t_buckets.float(), temperature)
    kl = (t_logp.exp() * (t_logp - _tempered(s_buckets, temperature))).sum()
    return (alpha * kl * temperature**2 + (1 - alpha) * ce) / n


@dataclass
class KDCollator:
    """Right-padded batches of pre-tokenized sequences: labels are -100 on the prompt and padding,
    and each answer position carries the teacher's top-k labels for that token."""

    soft_labels: dict[str, SoftLabelSet]
    """Per split; a row names its split and its index there."""
    pad_token_id: int
    packing: bool = False
    """Return one shared-prefix packed row instead (distill/training/packing.py)."""

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        labels_of = self.soft_labels[features[0]["split"]]
        rows = [f["row"] for f in features]
        seqs = [labels_of.sequence(r) for r in rows]
        width = max(len(s) for s in seqs)
        k = labels_of.topk_ids.shape[1]
        batch = len(seqs)
        input_ids = torch.full((batch, width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((batch, width), dtype=torch.long)
        labels = torch.full((batch, width), IGNORE, dtype=torch.long)
        t_ids = torch.zeros((batch, width, k), dtype=torch.long)
        t_lp = torch.zeros((batch, width, k), dtype=torch.float32)
        t_tail = torch.zeros((batch, width), dtype=torch.float32)
        for b, (row, seq) in enumerate(zip(rows, seqs, strict=True)):
            start, end = int(labels_of.starts[row]), len(seq)
            input_ids[b, :end] = torch.tensor(seq)
            attention[b, :end] = 1
            labels[b, start:end] = input_ids[b, start:end]
            top = labels_of.labels(row)
            t_ids[b, start:end] = torch.from_numpy(top.ids.astype("int64"))
            t_lp[b, start:end] = torch.from_numpy(top.logprobs)
            t_tail[b, start:end] = torch.from_numpy(top.tail)
        teacher = dict(zip(TEACHER_KEYS, (t_ids, t_lp, t_tail), strict=True))
        if self.packing:
            packed = pack(seqs, [int(labels_of.starts[row]) for row in rows])
            inputs = packed_inputs(packed, input_ids, labels)
            return inputs | {key: packed.gather(value) for key, value in teacher.items()}
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels} | teacher


def kd_dataset(soft_labels: dict[str, SoftLabelSet], split: str):
    """Rows point into the split's soft-label arrays; `input_ids` is there for length-grouped
    batching and token counts."""
    from datasets import Dataset

    labels = soft_labels[split]
    return Dataset.from_list([{"split": split, "row": i, "input_ids": labels.sequence(i)} for i in range(len(labels))])


class KDTrainer(SFTTrainer):
    def __init__(self, *args, alpha: float, temperature: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.kd_alpha = alpha
        self.kd_temperature = temperature

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        teacher = {key: inputs.pop(key) for key in TEACHER_KEYS}
        labels = inputs.pop("labels")
        outputs = model(**inputs, use_cache=False)
        # Trainer divides the loss by the accumulation steps itself unless the model takes loss
        # kwargs; only then does it expect a sum over the tokens of all accumulated batches.
        num_items = num_items_in_batch if self.model_accepts_loss_kwargs else None
        loss = kd_loss(
            outputs.logits,
            labels,
            **teacher,
            alpha=self.kd_alpha,
            temperature=self.kd_temperature,
            num_items=num_items,
        )
        return (loss, outputs) if return_outputs else loss
