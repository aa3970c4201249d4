"""The teacher_logits artifact: per training sequence, the student's token ids and the teacher's
top-k soft labels on every answer token, stored compactly so training never recomputes them.

Layout of `data/teacher_logits/`:
- `manifest.json`: status (`ok`, `skipped` when train.loss is sft, `sft_fallback` when the teacher
  cannot give soft labels and train.loss is auto or train.kd.fallback_to_sft is set), the reason,
  teacher, student, k,
  and the example ids per split, so training can check the labels belong to its data;
- `<split>.safetensors`: the concatenated token ids with per-sequence offsets and answer starts,
  and per answer token the teacher's top-k ids, logprobs and tail log-mass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Required, TypedDict

import numpy as np

from distill.config import ConfigError, TeacherConfig, TrainConfig
from distill.examples import Example
from distill.io import read_json, write_json
from distill.layouts import SOFT_LABELS_MANIFEST, SPLIT_FILES, VALIDATED, soft_labels_file
from distill.tasks.base import Grading
from distill.training.data import TokenizedExample
from distill.training.teacher_forcing import Scorer, SoftLabelsUnavailable, TopK

STUDENT_PROMPT = "zero_shot"
"""The prompt the stored sequences are built with (`Task.student_messages`); the manifest records
it, so labels stored under another prompt are refused rather than trained on."""
SPLITS = ("train", "val")


@dataclass(frozen=True)
class SoftLabelSet:
    """One split: sequence i is input_ids[offsets[i]:offsets[i+1]], its answer starts at starts[i],
    and its answer tokens' labels are rows answer_offsets[i]:answer_offsets[i+1]."""

    example_ids: list[str]
    input_ids: np.ndarray
    offsets: np.ndarray
    starts: np.ndarray
    answer_offsets: np.ndarray
    topk_ids: np.ndarray
    topk_logprobs: np.ndarray
    tail: np.ndarray

    def __len__(self) -> int:
        return len(self.example_ids)

    def sequence(self, i: int) -> list[int]:
        return self.input_ids[self.offsets[i] : self.offsets[i + 1]].tolist()

    def labels(self, i: int) -> TopK:
        a, b = self.answer_offsets[i], self.answer_offsets[i + 1]
        return TopK(self.topk_ids[a:b], self.topk_logprobs[a:b], self.tail[a:b])

    def select(self, example_ids: list[str]) -> SoftLabelSet:
        """The sequences of `example_ids`, in that order (a `train.max_examples` subset). Raises
        KeyError for an id this set does not hold."""
        index = {e: i for i, e in enumerate(self.example_ids)}
        rows = [index[e] for e in example_ids]
        tokens = [np.arange(self.offsets[i], self.offsets[i + 1]) for i in rows]
        answers = [np.arange(self.answer_offsets[i], self.answer_offsets[i + 1]) for i in rows]
        token_rows = np.concatenate(tokens) if tokens else np.zeros(0, np.int64)
        answer_rows = np.concatenate(answers) if answers else np.zeros(0, np.int64)
        return SoftLabelSet(
            example_ids=list(example_ids),
            input_ids=self.input_ids[token_rows],
            offsets=np.concatenate([[0], np.cumsum([len(t) for t in tokens])]).astype(np.int64),
            starts=self.starts[rows],  # relative to each sequence's own start
            answer_offsets=np.concatenate([[0], np.cumsum([len(a) for a in answers])]).astype(np.int64),
            topk_ids=self.topk_ids[answer_rows],
            topk_logprobs=self.topk_logprobs[answer_rows],
            tail=self.tail[answer_rows],
        )


def check_aligned(sequences: list[TokenizedExample], scored: list[TokenizedExample]) -> None:
    """Each scored answer must be the student's answer token for token, or a soft label would be
    about another token. Raises SoftLabelsUnavailable (so `train.loss: auto` falls back to SFT)."""
    for s, t in zip(sequences, scored, strict=True):
        if s.input_ids[s.completion_start :] != t.input_ids[t.completion_start :]:
            raise SoftLabelsUnavailable(
                f"needs each answer to tokenize the same after the teacher's prompt as after the student's, and "
                f"example {s.example_id}'s does not, so the teacher's soft labels cannot be aligned to its tokens"
            )


def capture(
    scorer: Scorer,
    sequences: list[TokenizedExample],
    k: int,
    desc: str,
    scored: list[TokenizedExample] | None = None,
) -> SoftLabelSet:
    """Soft labels for the answer tokens of `sequences` (what the student trains on), scored by the
    teacher on `scored` (the same answers after the teacher's own prompt; default: `sequences`).
    Raises SoftLabelsUnavailable when a scored answer is not token for token the student's."""
    from tqdm import tqdm

    scored = sequences if scored is None else scored
    check_aligned(sequences, scored)
    labels = [scorer.score(t.input_ids, t.completion_start, k) for t in tqdm(scored, desc=desc, unit="seq")]
    lengths = [len(s.input_ids) for s in sequences]
    answers = [len(t.tail) for t in labels]
    k_shape = (0, k)
    return SoftLabelSet(
        example_ids=[s.example_id for s in sequences],
        input_ids=np.array([t for s in sequences for t in s.input_ids], dtype=np.int32),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        starts=np.array([s.completion_start for s in sequences], dtype=np.int64),
        answer_offsets=np.concatenate([[0], np.cumsum(answers)]).astype(np.int64),
        topk_ids=np.concatenate([t.ids for t in labels]) if labels else np.zeros(k_shape, np.int32),
        topk_logprobs=np.concatenate([t.logprobs for t in labels]) if labels else np.zeros(k_shape, np.float32),
        tail=np.concatenate([t.tail for t in labels]) if labels else np.zeros(0, np.float32),
    )


def save_split(out_dir: Path, split: str, labels: SoftLabelSet) -> None:
    from safetensors.numpy import save_file

    arrays = {
        name: getattr(labels, name)
        for name in ("input_ids", "offsets", "starts", "answer_offsets", "topk_ids", "topk_logprobs", "tail")
    }
    save_file(arrays, str(out_dir / soft_labels_file(split)))


SoftLabelStatus = Literal["ok", "skipped", "sft_fallback"]
"""ok: labels stored; skipped: train.loss is sft; sft_fallback: the teacher cannot give soft
labels and train.loss auto (or train.kd.fallback_to_sft) chose SFT."""


class SoftLabelManifest(TypedDict, total=False):
    status: Required[SoftLabelStatus]
    reason: Required[str]
    """Why it was skipped or fell back; empty when ok."""
    teacher: Required[str]
    student: Required[str]
    top_k: Required[int]
    splits: dict[str, list[str]]
    """ok only: the example ids per split, in stored order."""
    student_prompt: str
    answer_tokens: dict[str, int]
    seconds: float


def write_manifest(out_dir: Path, status: SoftLabelStatus, reason: str, **info) -> SoftLabelManifest:
    manifest: SoftLabelManifest = {"status": status, "reason": reason, **info}
    write_json(out_dir / SOFT_LABELS_MANIFEST, manifest)
    return manifest


def read_manifest(folder: Path) -> SoftLabelManifest:
    path = Path(folder) / SOFT_LABELS_MANIFEST
    if not path.is_file():
        raise ConfigError(f"{path}: missing; run `dvc repro teacher_logits` before training with train.loss: kd")
    return read_json(path)


def load_split(folder: Path, split: str, manifest: dict, expected_ids: list[str]) -> SoftLabelSet:
    """Load one split's labels for `expected_ids` (all of the split's examples, or the subset
    `train.max_examples` keeps), refusing labels that were computed for other examples."""
    from safetensors.numpy import load_file

    if manifest.get("student_prompt") != STUDENT_PROMPT:
        raise ConfigError(
            f"{folder}/{SOFT_LABELS_MANIFEST}: the soft labels were stored for another student prompt "
            f"({manifest.get('student_prompt', 'the few-shot one')}); run `dvc repro teacher_logits`"
        )
    ids = manifest["splits"][split]
    # A subset is selected by id, so the ids must then be unique.
    if ids != expected_ids and (set(expected_ids) - set(ids) or len(set(ids)) != len(ids)):
        raise ConfigError(
            f"{folder}/{soft_labels_file(split)}: soft labels are for other examples than "
            f"{VALIDATED / SPLIT_FILES[split]}; run `dvc repro teacher_logits`"
        )
    labels = SoftLabelSet(example_ids=ids, **load_file(str(Path(folder) / soft_labels_file(split))))
    return labels if ids == expected_ids else labels.select(expected_ids)


def write_teacher_logits(
    cfg: TrainConfig,
    teacher: TeacherConfig,
    student_model: str,
    task: Grading,
    splits: dict[str, list[Example]],
    checkpoint: str,
    out_dir: Path,
) -> SoftLabelManifest:
    """The teacher_logits stage's work: skip when train.loss is sft; check that the teacher and
    the student (`checkpoint`, from the spec `student_model`) share a tokenizer (cheap, before the
    teacher's weights load); then score every split into `out_dir`. Returns the manifest."""
    from transformers import AutoTokenizer

    from distill.training.data import check_lengths, tokenize_example
    from distill.training.teacher_forcing import check_shared_tokenizer, make_scorer

    info = {"teacher": teacher.model, "student": student_model, "top_k": cfg.kd.top_k}
    if cfg.loss == "sft":
        return write_manifest(out_dir, "skipped", "train.loss is sft", **info)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    # The student trains on its own prompt; the teacher scores the same answer after its full
    # (few-shot) prompt, the context its answers were generated in.
    sequences = {split: [tokenize_example(tokenizer, task, ex) for ex in exs] for split, exs in splits.items()}
    scored = {
        split: [tokenize_example(tokenizer, task, ex, few_shot=True) for ex in exs] for split, exs in splits.items()
    }
    check_lengths([s for seqs in sequences.values() for s in seqs], cfg.max_length)
    try:
        for split, seqs in sequences.items():
            check_aligned(seqs, scored[split])
        # The teacher's context is its own (teacher.n_ctx); the scorer refuses a longer sequence.
        scorer = make_scorer(teacher, n_ctx=cfg.max_length)
        try:
            check_shared_tokenizer(scorer, student_model, tokenizer, [s for v in scored.values() for s in v])
        except SoftLabelsUnavailable:
            scorer.close()
            raise
    except SoftLabelsUnavailable as e:
        if cfg.loss == "auto":
            print(f"teacher_logits: {e}\nteacher_logits: train.loss is auto, so train will use SFT")
            return write_manifest(out_dir, "sft_fallback", f"train.loss auto chose sft: kd {e.why}", **info)
        if not cfg.kd.fallback_to_sft:
            raise
        print(f"teacher_logits: {e}\nteacher_logits: train.kd.fallback_to_sft is set, so train will use SFT")
        return write_manifest(out_dir, "sft_fallback", str(e), **info)
    start = time.perf_counter()
    try:
        labels = {
            split: capture(scorer, seqs, cfg.kd.top_k, desc=f"teacher_logits {split}", scored=scored[split])
            for split, seqs in sequences.items()
        }
    finally:
        scorer.close()
    for split, split_labels in labels.items():
        save_split(out_dir, split, split_labels)
    return write_manifest(
        out_dir,
        "ok",
        "",
        **info,
        splits={split: split_labels.example_ids for split, split_labels in labels.items()},
        student_prompt=STUDENT_PROMPT,
        answer_tokens={split: int(len(split_labels.tail)) for split, split_labels in labels.items()},
        seconds=round(time.perf_counter() - start, 1),
    )
