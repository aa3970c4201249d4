"""SFT on a tiny random model: the loss falls, and only completion tokens carry labels."""

from __future__ import annotations

import dataclasses
import json

import pytest

from distill.config import ConfigError, load_params
from distill.examples import Example
from distill.layouts import STUDENT_CARD
from distill.training.data import build_dataset
from distill.training.trainer import sft_config, train_student

from .conftest import REPO

EXAMPLES = [
    Example("How many employees are there?", "SELECT COUNT(*) FROM employees", {"db": "hr"}),
    Example("List the department names.", "SELECT name FROM departments", {"db": "hr"}),
    Example("Who earns the most?", "SELECT name FROM employees ORDER BY salary DESC LIMIT 1", {"db": "hr"}),
    Example("Which employees have no manager?", "SELECT name FROM employees WHERE manager_id IS NULL", {"db": "hr"}),
]


def _train_config(**train):
    params = load_params(REPO / "params.yaml")
    base = {
        "method": "full",
        "lr": 5e-3,
        "epochs": 8.0,
        "batch_size": 2,
        "grad_accum": 1,
        "warmup_ratio": 0.0,
        "max_length": 512,
    }
    return dataclasses.replace(params.train, **{**base, **train})


def test_loss_falls_and_the_best_checkpoint_is_saved(tiny_task, tiny_checkpoint, tmp_path):
    metrics = train_student(
        _train_config(),
        str(tiny_checkpoint),
        tiny_task,
        tiny_checkpoint,
        EXAMPLES,
        EXAMPLES[:2],
        tmp_path / "out",
        tmp_path / "w",
        tmp_path / "live",
    )
    assert json.loads(json.dumps(metrics)) == metrics  # JSON-able, for metrics/train.json
    assert metrics["steps"] == 16
    assert metrics["final_loss"] < 0.8 * metrics["first_loss"], metrics
    assert metrics["best_eval_loss"] is not None
    assert (tmp_path / "out" / STUDENT_CARD).is_file()
    assert any((tmp_path / "out").glob("*.safetensors"))
    # The curves are logged for `dvc plots`, and dvclive leaves dvc.yaml alone.
    assert (tmp_path / "live" / "plots" / "metrics" / "train" / "loss.tsv").is_file()
    assert not (tmp_path / "live" / "dvc.yaml").exists() and not (tmp_path / "dvc.yaml").exists()


def test_lora_saves_an_adapter(tiny_task, tiny_checkpoint, tmp_path):
    config = _train_config(method="lora", epochs=1.0, lr=1e-3)
    train_student(
        config, str(tiny_checkpoint), tiny_task, tiny_checkpoint, EXAMPLES, [], tmp_path / "out", tmp_path / "w"
    )
    assert (tmp_path / "out" / "adapter_config.json").is_file()
    card = json.loads((tmp_path / "out" / STUDENT_CARD).read_text())
    assert card["method"] == "lora"


def test_labels_cover_the_completion_only(tiny_task, tiny_checkpoint, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    args = sft_config(_train_config(), tmp_path / "w", len(EXAMPLES), False, [])
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_checkpoint),
        args=args,
        train_dataset=build_dataset(tiny_task, EXAMPLES),
        processing_class=tokenizer,
    )
    row = trainer.train_dataset[0]
    batch = trainer.data_collator([row])
    labels = batch["labels"][0].tolist()
    ids = batch["input_ids"][0].tolist()
    labelled = [t for t, label in zip(ids, labels, strict=True) if label != -100]
    text = tokenizer.decode(labelled)
    assert text.startswith(EXAMPLES[0].output), text
    assert "<|im_end|>" in text
    # Every prompt token (system, schema, question, the assistant header) is masked out.
    first = labels.index(next(label for label in labels if label != -100))
    assert all(label == -100 for label in labels[:first])
    assert "How many employees" in tokenizer.decode(ids[:first])
    assert all(label != -100 for label in labels[first : first + len(labelled)])


def test_sequences_longer_than_max_length_are_refused(tiny_task, tiny_checkpoint, tmp_path):
    with pytest.raises(ConfigError, match="train.max_length"):
        train_student(
            _train_config(max_length=40),
            str(tiny_checkpoint),
            tiny_task,
            tiny_checkpoint,
            EXAMPLES,
            [],
            tmp_path / "out",
            tmp_path / "w",
        )


def test_bf16_on_a_cpu_without_it_is_a_clear_error(tmp_path, monkeypatch):
    import distill.training.trainer as sft

    monkeypatch.setattr(sft, "cpu_supports_bf16", lambda: False)
    with pytest.raises(ConfigError, match="train.bf16"):
        sft_config(_train_config(bf16=True), tmp_path, 4, False, [])


def _tiny_double_model(checkpoint):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float64)


def _loss_and_grads(model, batch):
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return loss.item(), {name: p.grad.clone() for name, p in model.named_parameters()}


def test_shared_prefix_packing_gives_the_padded_batch_loss_and_gradients(tiny_task, tiny_checkpoint):
    from transformers import AutoTokenizer

    from distill.training.data import tokenize_example
    from distill.training.packing import IGNORE, SharedPrefixCollator, padded

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    seqs = [tokenize_example(tokenizer, tiny_task, ex) for ex in EXAMPLES]
    features = [
        {"input_ids": s.input_ids, "labels": [IGNORE] * s.completion_start + s.input_ids[s.completion_start :]}
        for s in seqs
    ]
    ids = [f["input_ids"] for f in features]
    reference = {
        "input_ids": padded(ids, tokenizer.pad_token_id),
        "attention_mask": padded([[1] * len(i) for i in ids], 0),
        "labels": padded([f["labels"] for f in features], IGNORE),
    }
    packed = SharedPrefixCollator(tokenizer.pad_token_id)(features)

    # The common prompt is stored once; each tail keeps its question and answer.
    total = sum(len(i) for i in ids)
    assert packed["input_ids"].shape[1] < total / 2, (packed["input_ids"].shape, total)
    assert (packed["labels"] != IGNORE).sum() == (reference["labels"] != IGNORE).sum()

    model = _tiny_double_model(tiny_checkpoint)
    loss_padded, grads_padded = _loss_and_grads(model, reference)
    loss_packed, grads_packed = _loss_and_grads(model, packed)
    # float64 weights; transformers' loss upcasts the logits to float32 only.
    assert loss_packed == pytest.approx(loss_padded, rel=1e-6)
    for name, grad in grads_padded.items():
        scale = grad.abs().max().item() or 1.0
        assert (grads_packed[name] - grad).abs().max().item() <= 1e-5 * scale, name


def test_the_shared_prefix_stops_before_the_first_answer():
    from distill.training.packing import pack

    # Identical prompts: the prefix may not swallow the token that predicts an answer.
    packed = pack([[1, 2, 3, 9, 9], [1, 2, 3, 8]], completion_starts=[3, 3])
    assert packed.prefix_length == 2
    assert packed.segments.tolist() == [-1, -1, 0, 0, 0, 1, 1]
    assert packed.positions.tolist() == [0, 1, 2, 3, 4, 2, 3]
    mask = packed.attention_mask()[0, 0]
    # Sequence 1's tail sees the prefix and itself, never sequence 0's tail.
    assert mask[5].tolist() == [True, True, False, False, False, True, False]
    # Sequences with nothing in common pack with an empty prefix.
    assert pack([[1, 2], [3, 4]], completion_starts=[1, 1]).prefix_length == 0


def test_packing_none_pads_rows(tiny_task, tiny_checkpoint, tmp_path):
    from distill.training.trainer import build_trainer

    trainer, _ = build_trainer(_train_config(packing="none"), tiny_task, tiny_checkpoint, EXAMPLES, [], tmp_path / "w")
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    assert batch["attention_mask"].shape == batch["input_ids"].shape and batch["input_ids"].shape[0] == 2
    trainer, _ = build_trainer(_train_config(), tiny_task, tiny_checkpoint, EXAMPLES, [], tmp_path / "w2")
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    assert batch["attention_mask"].dim() == 4 and batch["input_ids"].shape[0] == 1
