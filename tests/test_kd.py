"""Soft-label KD: the loss against hand-computed values, the teacher_logits artifact, the
tokenizer check, and a tiny student that trains on a tiny teacher's soft labels."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from distill.config import ConfigError, load_params
from distill.examples import Example
from distill.layouts import STUDENT_CARD
from distill.training.data import TokenizedExample, capped, tokenize_example
from distill.training.kd import TEACHER_KEYS, KDCollator, kd_dataset, kd_loss
from distill.training.soft_labels import SoftLabelSet, capture, load_split, read_manifest, write_teacher_logits
from distill.training.teacher_forcing import (
    LlamaCppScorer,
    SoftLabelsUnavailable,
    TopK,
    check_shared_tokenizer,
    make_scorer,
    top_k_from_logits,
)
from distill.training.trainer import train_student

from .conftest import REPO
from .test_training import EXAMPLES, _train_config
from .tiny_gguf import cached_tiny_gguf


def _one_token_batch(student_probs, teacher_top, teacher_tail_mass, target):
    """A batch with one answer token (position 1), predicted from position 0's logits."""
    logits = torch.zeros(1, 2, len(student_probs))
    logits[0, 0] = torch.log(torch.tensor(student_probs))
    labels = torch.tensor([[-100, target]])
    ids, lps = zip(*teacher_top, strict=True)
    t_ids = torch.zeros(1, 2, len(ids), dtype=torch.long)
    t_ids[0, 1] = torch.tensor(ids)
    t_lp = torch.zeros(1, 2, len(ids))
    t_lp[0, 1] = torch.log(torch.tensor(lps))
    t_tail = torch.zeros(1, 2)
    t_tail[0, 1] = math.log(teacher_tail_mass)
    return logits, labels, t_ids, t_lp, t_tail


def test_kd_loss_matches_a_hand_computed_value():
    # Student p = (0.5, 0.3, 0.2). Teacher top-1 is token 0 at 0.7; the tail holds 0.3.
    batch = _one_token_batch([0.5, 0.3, 0.2], [(0, 0.7)], 0.3, target=0)
    # Buckets: teacher (0.7, 0.3), student (0.5, 0.5).
    kl = 0.7 * math.log(0.7 / 0.5) + 0.3 * math.log(0.3 / 0.5)
    ce = -math.log(0.5)
    loss = kd_loss(*batch, alpha=1.0, temperature=1.0)
    assert loss.item() == pytest.approx(kl, rel=1e-5)
    mixed = kd_loss(*batch, alpha=0.25, temperature=1.0)
    assert mixed.item() == pytest.approx(0.25 * kl + 0.75 * ce, rel=1e-5)
    # T = 2: each bucketed distribution is p^(1/2), renormalized, and the KL is scaled by T^2 = 4.
    pt = np.sqrt([0.7, 0.3]) / np.sqrt([0.7, 0.3]).sum()
    ps = np.array([0.5, 0.5])
    hot = kd_loss(*batch, alpha=1.0, temperature=2.0)
    assert hot.item() == pytest.approx(4 * float((pt * np.log(pt / ps)).sum()), rel=1e-5)


def test_kd_loss_with_alpha_zero_is_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 11)
    labels = torch.randint(0, 11, (2, 6))
    labels[:, :3] = -100
    t_ids = torch.randint(0, 11, (2, 6, 4))
    t_lp = torch.log_softmax(torch.randn(2, 6, 4), -1) - 0.5
    t_tail = torch.full((2, 6), math.log(1 - math.exp(-0.5)))
    loss = kd_loss(logits, labels, t_ids, t_lp, t_tail, alpha=0.0, temperature=2.0)
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, 11), labels[:, 1:].reshape(-1), ignore_index=-100)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_with_the_whole_vocabulary_kept_the_loss_is_the_textbook_kl():
    torch.manual_seed(1)
    vocab = 7
    t_logits, s_logits = torch.randn(vocab), torch.randn(vocab)
    top = top_k_from_logits(t_logits.numpy()[None], k=vocab)
    logits = torch.zeros(1, 2, vocab)
    logits[0, 0] = s_logits
    labels = torch.tensor([[-100, 3]])
    t_ids = torch.zeros(1, 2, vocab, dtype=torch.long)
    t_ids[0, 1] = torch.from_numpy(top.ids[0].astype("int64"))
    t_lp = torch.zeros(1, 2, vocab)
    t_lp[0, 1] = torch.from_numpy(top.logprobs[0])
    t_tail = torch.zeros(1, 2)
    t_tail[0, 1] = float(top.tail[0])
    loss = kd_loss(logits, labels, t_ids, t_lp, t_tail, alpha=1.0, temperature=3.0)
    pt, ls = F.softmax(t_logits / 3, -1), F.log_softmax(s_logits / 3, -1)
    textbook = 9 * (pt * (pt.log() - ls)).sum()
    # Only the floored tail bucket (1e-12 of the mass before tempering) separates the two.
    assert loss.item() == pytest.approx(textbook.item(), rel=1e-3)


def test_top_k_keeps_the_largest_in_order_and_the_rest_as_tail():
    logits = np.log(np.array([[0.1, 0.5, 0.15, 0.25]]))
    top = top_k_from_logits(logits, k=2)
    assert top.ids.tolist() == [[1, 3]]
    assert np.exp(top.logprobs[0]).tolist() == pytest.approx([0.5, 0.25])
    assert math.exp(top.tail[0]) == pytest.approx(0.25)


def _kd_params(tiny_checkpoint, **kd):
    params = load_params(REPO / "params.yaml")
    teacher = dataclasses.replace(params.teacher, provider="hf", model=tiny_checkpoint)
    base = _train_config()
    train = dataclasses.replace(base, loss="kd", kd=dataclasses.replace(base.kd, top_k=5, **kd))
    student = dataclasses.replace(params.student, model=tiny_checkpoint)
    return dataclasses.replace(params, teacher=teacher, train=train, student=student)


@pytest.fixture
def tiny_soft_labels(tiny_task, tiny_checkpoint, tmp_path):
    """teacher_logits for EXAMPLES (train) and two of them (val), the tiny model teaching itself."""
    out = tmp_path / "teacher_logits"
    out.mkdir()
    params = _kd_params(tiny_checkpoint)
    splits = {"train": EXAMPLES, "val": EXAMPLES[:2]}
    manifest = write_teacher_logits(
        params.train, params.teacher, params.student.model, tiny_task, splits, tiny_checkpoint, out
    )
    labels = {s: load_split(out, s, manifest, [ex.id for ex in exs]) for s, exs in splits.items()}
    return params, out, labels


def test_teacher_logits_are_stored_per_answer_token(tiny_soft_labels, tiny_task, tiny_checkpoint):
    from transformers import AutoTokenizer

    _, out, labels = tiny_soft_labels
    manifest = read_manifest(out)
    assert manifest["status"] == "ok" and manifest["top_k"] == 5
    train = labels["train"]
    assert len(train) == len(EXAMPLES)
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    for i, example in enumerate(EXAMPLES):
        seq = tokenize_example(tokenizer, tiny_task, example)
        assert train.sequence(i) == seq.input_ids
        top = train.labels(i)
        assert top.ids.shape == (len(seq.input_ids) - seq.completion_start, 5)
        mass = np.exp(top.logprobs).sum(axis=1) + np.exp(top.tail)
        assert mass == pytest.approx(np.ones(len(mass)), rel=1e-4)
    assert manifest["answer_tokens"]["train"] == len(train.tail)


def test_the_collator_labels_the_answer_only_and_aligns_the_teacher(tiny_soft_labels, tiny_checkpoint):
    from transformers import AutoTokenizer

    _, _, labels = tiny_soft_labels
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    dataset = kd_dataset(labels, "train")
    batch = KDCollator(labels, tokenizer.pad_token_id)([dataset[0], dataset[1]])
    train = labels["train"]
    for b in range(2):
        start, seq = int(train.starts[b]), train.sequence(b)
        row = batch["labels"][b].tolist()
        assert all(label == -100 for label in row[:start])
        assert row[start : len(seq)] == seq[start:]
        assert all(label == -100 for label in row[len(seq) :])
        assert tokenizer.decode(seq[start:]).startswith(EXAMPLES[b].output)
        assert batch["teacher_ids"][b, start : len(seq)].tolist() == train.labels(b).ids.tolist()
        assert batch["attention_mask"][b].sum().item() == len(seq)


def test_a_tiny_student_learns_from_soft_labels(tiny_soft_labels, tiny_task, tiny_checkpoint, tmp_path):
    params, _, labels = tiny_soft_labels
    metrics = train_student(
        params.train,
        str(tiny_checkpoint),
        tiny_task,
        tiny_checkpoint,
        EXAMPLES,
        EXAMPLES[:2],
        tmp_path / "out",
        tmp_path / "w",
        soft_labels=labels,
    )
    assert metrics["loss"] == "kd"
    assert metrics["final_loss"] < 0.8 * metrics["first_loss"], metrics
    assert metrics["best_eval_loss"] is not None
    assert json.loads((tmp_path / "out" / STUDENT_CARD).read_text())["loss"] == "kd"


def test_llamacpp_scores_reuse_the_prompt_prefix_exactly(tiny_task, tiny_checkpoint):
    """The tiny GGUF shares SmolLM2's tokenizer with the tiny HF student. Scoring a sequence after
    another (reusing the cached prompt prefix) gives what a fresh model gives."""
    from transformers import AutoTokenizer

    from distill.models import GGUFSource

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    seqs = [tokenize_example(tokenizer, tiny_task, ex) for ex in EXAMPLES[:2]]
    source = GGUFSource(path=cached_tiny_gguf(0))
    warm = LlamaCppScorer("tiny", source, n_ctx=512, threads=1)
    check_shared_tokenizer(warm, "tiny", tokenizer, seqs)
    labels = capture(warm, seqs, k=4, desc="warm")
    warm.close()
    fresh = LlamaCppScorer("tiny", source, n_ctx=512, threads=1)
    alone = fresh.score(seqs[1].input_ids, seqs[1].completion_start, 4)
    fresh.close()
    assert labels.labels(1).ids.tolist() == alone.ids.tolist()
    assert labels.labels(1).logprobs == pytest.approx(alone.logprobs, abs=1e-3)


def test_a_teacher_with_another_tokenizer_is_refused_by_name(tiny_task, tiny_checkpoint, tmp_path):
    """The bundled Qwen teacher against a SmolLM2-tokenized student: refused before its weights load."""
    params = _kd_params(tiny_checkpoint)
    params = dataclasses.replace(
        params, teacher=dataclasses.replace(params.teacher, provider="llamacpp", model="qwen2.5-coder-1.5b-instruct")
    )
    with pytest.raises(SoftLabelsUnavailable) as err:
        write_teacher_logits(
            params.train,
            params.teacher,
            params.student.model,
            tiny_task,
            {"train": EXAMPLES, "val": []},
            tiny_checkpoint,
            tmp_path,
        )
    message = str(err.value)
    assert "qwen2.5-coder-1.5b-instruct" in message and "share a tokenizer" in message
    assert "train.kd.fallback_to_sft" in message
    assert not (tmp_path / "train.safetensors").exists()


def test_api_teachers_are_refused_and_fallback_is_explicit(tiny_task, tiny_checkpoint, tmp_path):
    params = _kd_params(tiny_checkpoint)
    api = dataclasses.replace(params, teacher=dataclasses.replace(params.teacher, provider="anthropic"))
    with pytest.raises(SoftLabelsUnavailable, match="teacher.provider anthropic"):
        make_scorer(api.teacher, n_ctx=512)
    fallback = dataclasses.replace(
        api, train=dataclasses.replace(api.train, kd=dataclasses.replace(api.train.kd, fallback_to_sft=True))
    )
    manifest = write_teacher_logits(
        fallback.train,
        fallback.teacher,
        fallback.student.model,
        tiny_task,
        {"train": EXAMPLES, "val": []},
        tiny_checkpoint,
        tmp_path,
    )
    assert manifest["status"] == "sft_fallback" and "anthropic" in manifest["reason"]


def test_labels_for_other_examples_are_refused(tiny_soft_labels):
    _, out, _ = tiny_soft_labels
    with pytest.raises(ConfigError, match="other examples"):
        load_split(out, "train", read_manifest(out), ["someone-else"])


def test_packed_kd_batches_give_the_padded_kd_loss(tiny_soft_labels, tiny_checkpoint):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, _, labels = tiny_soft_labels
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    rows = [kd_dataset(labels, "train")[i] for i in range(len(EXAMPLES))]
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float64)
    losses = []
    for packing in (False, True):
        batch = KDCollator(labels, tokenizer.pad_token_id, packing=packing)(rows)
        teacher = {key: batch.pop(key) for key in TEACHER_KEYS}
        target = batch.pop("labels")
        with torch.no_grad():
            logits = model(**batch).logits
        losses.append(kd_loss(logits, target, **teacher, alpha=0.5, temperature=2.0).item())
        assert (batch["attention_mask"].dim() == 4) == packing
    assert losses[1] == pytest.approx(losses[0], rel=1e-9)


def test_auto_loss_picks_kd_with_a_scoring_teacher_and_sft_otherwise(tiny_task, tiny_checkpoint, tmp_path):
    """train.loss: auto — KD when the teacher scores the student's tokens (the tiny model teaching
    itself), SFT with the reason recorded for an API teacher or another tokenizer; never an error."""
    params = _kd_params(tiny_checkpoint)
    auto = dataclasses.replace(params, train=dataclasses.replace(params.train, loss="auto"))
    splits = {"train": EXAMPLES[:2], "val": []}
    for name in ("kd", "api", "other"):
        (tmp_path / name).mkdir()
    manifest = write_teacher_logits(
        auto.train, auto.teacher, auto.student.model, tiny_task, splits, tiny_checkpoint, tmp_path / "kd"
    )
    assert manifest["status"] == "ok" and (tmp_path / "kd" / "train.safetensors").exists()
    api = dataclasses.replace(auto, teacher=dataclasses.replace(auto.teacher, provider="anthropic"))
    manifest = write_teacher_logits(
        api.train, api.teacher, api.student.model, tiny_task, splits, tiny_checkpoint, tmp_path / "api"
    )
    assert manifest["status"] == "sft_fallback"
    assert manifest["reason"].startswith("train.loss auto chose sft:") and "anthropic" in manifest["reason"]
    other = dataclasses.replace(
        auto, teacher=dataclasses.replace(auto.teacher, provider="llamacpp", model="qwen2.5-coder-1.5b-instruct")
    )
    manifest = write_teacher_logits(
        other.train, other.teacher, other.student.model, tiny_task, splits, tiny_checkpoint, tmp_path / "other"
    )
    assert manifest["status"] == "sft_fallback" and "share a tokenizer" in manifest["reason"]
    assert not (tmp_path / "other" / "train.safetensors").exists()


def test_a_subset_of_soft_labels_keeps_each_sequence_with_its_own_labels():
    """train.max_examples: labels computed for every pair, a subset selected by id, in any order."""
    k = 2
    lengths, starts, answers = [3, 4, 2], [1, 2, 1], [2, 2, 1]
    full = SoftLabelSet(
        example_ids=["a", "b", "c"],
        input_ids=np.arange(sum(lengths), dtype=np.int32),
        offsets=np.array([0, 3, 7, 9], dtype=np.int64),
        starts=np.array(starts, dtype=np.int64),
        answer_offsets=np.array([0, 2, 4, 5], dtype=np.int64),
        topk_ids=np.arange(sum(answers) * k, dtype=np.int32).reshape(-1, k),
        topk_logprobs=-np.arange(sum(answers) * k, dtype=np.float32).reshape(-1, k),
        tail=-np.arange(sum(answers), dtype=np.float32),
    )
    sub = full.select(["c", "a"])
    assert sub.example_ids == ["c", "a"] and len(sub) == 2
    for i, original in enumerate([2, 0]):
        assert sub.sequence(i) == full.sequence(original)
        assert int(sub.starts[i]) == int(full.starts[original])
        assert sub.labels(i).ids.tolist() == full.labels(original).ids.tolist()
        assert sub.labels(i).tail.tolist() == full.labels(original).tail.tolist()
    with pytest.raises(KeyError):
        full.select(["z"])


def test_max_examples_is_a_seeded_sample_in_file_order():
    examples = [Example(input=f"q{i}", output="SELECT 1", id=f"e{i}") for i in range(20)]
    assert capped(examples, 0, seed=0) == examples
    assert capped(examples, 50, seed=0) == examples
    five = capped(examples, 5, seed=0)
    assert len(five) == 5 and five == capped(examples, 5, seed=0)
    assert [examples.index(e) for e in five] == sorted(examples.index(e) for e in five)
    assert five != examples[:5]  # a sample, not the file's first pairs


def test_the_teacher_scores_the_answer_after_its_own_prompt():
    """KD: the student trains on its short prompt; the teacher's soft labels come from the same
    answer tokens after the teacher's few-shot prompt, and a misaligned answer is refused."""

    class Scorer:
        def __init__(self):
            self.calls = []

        def score(self, ids, start, k):
            self.calls.append((list(ids), start))
            n = len(ids) - start
            return TopK(np.zeros((n, k), np.int32), np.full((n, k), -1.0, np.float32), np.full(n, -2.0, np.float32))

    student = [TokenizedExample("e0", [1, 2, 7, 8, 9], 2, ""), TokenizedExample("e1", [1, 2, 5], 2, "")]
    teacher = [TokenizedExample("e0", [1, 2, 40, 41, 7, 8, 9], 4, ""), TokenizedExample("e1", [1, 2, 40, 41, 5], 4, "")]
    scorer = Scorer()
    labels = capture(scorer, student, 3, "test", scored=teacher)
    assert scorer.calls == [([1, 2, 40, 41, 7, 8, 9], 4), ([1, 2, 40, 41, 5], 4)]
    assert labels.sequence(0) == [1, 2, 7, 8, 9] and int(labels.starts[0]) == 2  # the student's own tokens
    assert len(labels.labels(0).tail) == 3 and len(labels.labels(1).tail) == 1
    shifted = [teacher[0], TokenizedExample("e1", [1, 2, 40, 41, 6], 4, "")]
    with pytest.raises(SoftLabelsUnavailable, match="example e1.s does not"):
        capture(Scorer(), student, 3, "test", scored=shifted)
