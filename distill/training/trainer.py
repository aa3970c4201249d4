"""Student training with trl's SFTTrainer: LoRA (peft) or full fine-tuning; SFT (cross-entropy on
the answer tokens) or KD (soft labels from the teacher_logits artifact, see kd.py); the best
checkpoint by val loss; logged through dvclive."""

from __future__ import annotations

import math
import time
from pathlib import Path

from distill.card import write_card
from distill.config import ConfigError, LoraConfig, TrainConfig
from distill.examples import Example
from distill.layouts import TRAIN, VALIDATED
from distill.tasks.base import Grading
from distill.training.data import build_dataset, check_lengths, tokenize_example
from distill.training.soft_labels import SoftLabelSet


def cpu_supports_bf16() -> bool:
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def lora_config(cfg: LoraConfig):
    """peft's LoraConfig from `train.lora`."""
    import peft

    targets = cfg.target_modules if cfg.target_modules == "all-linear" else cfg.target_modules.split(",")
    return peft.LoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=targets, task_type="CAUSAL_LM"
    )


def sft_config(
    cfg: TrainConfig, work_dir: Path, n_train: int, has_eval: bool, report_to: list[str], pretokenized: bool = False
):
    """`pretokenized`: KD batches come from our own collator, with the teacher's labels in extra
    columns that trl must neither re-tokenize nor drop."""
    from trl import SFTConfig

    if cfg.bf16 and not cpu_supports_bf16():
        raise ConfigError("params.yaml: train.bf16: this CPU has no bf16 support; set it to false")
    steps = math.ceil(math.ceil(n_train / cfg.batch_size) / cfg.grad_accum * cfg.epochs)
    strategy = "epoch" if has_eval else "no"
    return SFTConfig(
        output_dir=str(work_dir),
        learning_rate=cfg.lr,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        warmup_steps=round(steps * cfg.warmup_ratio),  # trl 1.16 takes steps, not a ratio
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.scheduler,
        max_length=cfg.max_length,
        completion_only_loss=True,
        # Padded rows: similar lengths per batch, fewer pad tokens. Packed rows have no padding.
        train_sampling_strategy="group_by_length" if cfg.packing == "none" else "random",
        bf16=cfg.bf16,
        use_cpu=True,
        gradient_checkpointing=False,  # no gain on CPU at this size (DESIGN 6)
        seed=cfg.seed,
        data_seed=cfg.seed,
        eval_strategy=strategy,
        save_strategy=strategy if has_eval else "no",
        load_best_model_at_end=has_eval,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        save_total_limit=1,
        logging_steps=1,
        report_to=report_to,
        dataloader_num_workers=0,
        remove_unused_columns=not pretokenized,
        dataset_kwargs={"skip_prepare_dataset": True} if pretokenized else None,
    )


def build_trainer(
    cfg: TrainConfig,
    task: Grading,
    checkpoint: str,
    train: list[Example],
    val: list[Example],
    work_dir: Path,
    live_dir: Path | None = None,
    soft_labels: dict[str, SoftLabelSet] | None = None,
):
    """The configured trainer (SFTTrainer, or KDTrainer given soft labels) and its tokenizer,
    ready to train; shared by the train stage and benchmarks/train_throughput.py."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not train:
        raise ConfigError(f"no training examples: {VALIDATED / TRAIN} is empty (raise generate.target_examples)")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    check_lengths([tokenize_example(tokenizer, task, ex) for ex in train + val], cfg.max_length)
    kd = soft_labels is not None
    args = sft_config(cfg, work_dir, len(train), bool(val), [], pretokenized=kd)
    common = dict(
        model=model,
        args=args,
        processing_class=tokenizer,
        peft_config=lora_config(cfg.lora) if cfg.method == "lora" else None,
        callbacks=_live_callbacks(live_dir),
    )
    if kd:
        from distill.training.kd import KDCollator, KDTrainer, kd_dataset

        trainer = KDTrainer(
            **common,
            train_dataset=kd_dataset(soft_labels, "train"),
            eval_dataset=kd_dataset(soft_labels, "val") if val else None,
            data_collator=KDCollator(soft_labels, _pad_id(tokenizer), packing=cfg.packing == "shared_prefix"),
            alpha=cfg.kd.alpha,
            temperature=cfg.kd.temperature,
        )
    else:
        from trl import SFTTrainer

        from distill.training.packing import SharedPrefixCollator, SharedPrefixSFTTrainer

        datasets = dict(
            train_dataset=build_dataset(task, train), eval_dataset=build_dataset(task, val) if val else None
        )
        if cfg.packing == "shared_prefix":
            collator = SharedPrefixCollator(_pad_id(tokenizer))
            trainer = SharedPrefixSFTTrainer(**common, **datasets, data_collator=collator)
        else:
            trainer = SFTTrainer(**common, **datasets)
    return trainer, tokenizer


def train_student(
    cfg: TrainConfig,
    base_model: str,
    task: Grading,
    checkpoint: str,
    train: list[Example],
    val: list[Example],
    out_dir: Path,
    work_dir: Path,
    live_dir: Path | None = None,
    soft_labels: dict[str, SoftLabelSet] | None = None,
) -> dict:
    """Train the student `checkpoint` (from the spec `base_model`, `student.model`) on `train`
    (selecting the best epoch on `val`) and save it to `out_dir`: a peft adapter for LoRA, full
    weights otherwise, plus the tokenizer and a student card. With `soft_labels` (per split) the
    loss is KD, otherwise SFT. Returns metrics/train.json's training fields."""
    kd = soft_labels is not None
    trainer, tokenizer = build_trainer(cfg, task, checkpoint, train, val, work_dir, live_dir, soft_labels)
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    trainer.save_model(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    tokens = sum(len(row["input_ids"]) for row in trainer.train_dataset) * cfg.epochs
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    best = trainer.state.best_metric
    loss_name = "kd" if kd else "sft"
    write_card(out_dir, {"base_model": base_model, "checkpoint": checkpoint, "method": cfg.method, "loss": loss_name})
    return {
        "method": cfg.method,
        "loss": loss_name,
        "packing": cfg.packing,
        "train_examples": len(train),
        "val_examples": len(val),
        "steps": trainer.state.global_step,
        "train_loss": round(result.training_loss, 4),
        "first_loss": round(losses[0], 4) if losses else None,
        "final_loss": round(losses[-1], 4) if losses else None,
        "best_eval_loss": None if best is None else round(best, 4),
        "seconds": round(seconds, 1),
        "trained_tokens_per_s": round(tokens / seconds, 1) if seconds else None,
    }


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _live_callbacks(live_dir: Path | None) -> list:
    if live_dir is None:
        return []
    from transformers.integrations import DVCLiveCallback

    from dvclive import Live

    # dvcyaml=False: dvc.yaml already declares these metrics and plots; by default dvclive
    # would rewrite it on every run.
    return [DVCLiveCallback(live=Live(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False))]
