"""SFT with trl's SFTTrainer: LoRA (peft) or full fine-tuning, completion-only loss, the best
checkpoint by val loss, logged through dvclive."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from distill.config import ConfigError, Params
from distill.examples import Example
from distill.io import write_json
from distill.tasks.base import Task
from distill.training.data import build_dataset

STUDENT_CARD = "distill_student.json"
"""Written beside the trained weights: what they are and how to load them."""


def cpu_supports_bf16() -> bool:
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _lora_config(params: Params):
    from peft import LoraConfig

    cfg = params.train.lora
    targets = cfg.target_modules if cfg.target_modules == "all-linear" else cfg.target_modules.split(",")
    return LoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=targets, task_type="CAUSAL_LM"
    )


def sft_config(params: Params, work_dir: Path, n_train: int, has_eval: bool, report_to: list[str]):
    from trl import SFTConfig

    cfg = params.train
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
        train_sampling_strategy="group_by_length",  # similar lengths per batch: fewer pad tokens
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
    )


def train_sft(
    params: Params,
    task: Task,
    checkpoint: str,
    train: list[Example],
    val: list[Example],
    out_dir: Path,
    work_dir: Path,
    live_dir: Path | None = None,
) -> dict:
    """Train the student on `train` (selecting the best epoch on `val`) and save it to `out_dir`:
    a peft adapter for LoRA, full weights otherwise, plus the tokenizer and a student card."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    if not train:
        raise ConfigError("no training examples: data/validated/train.jsonl is empty (raise generate.target_examples)")
    cfg = params.train
    if cfg.loss == "kd":
        raise ConfigError(
            "params.yaml: train.loss: kd needs the teacher_logits stage, which is not built yet; use sft for now"
        )
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    train_ds = build_dataset(task, train)
    eval_ds = build_dataset(task, val) if val else None
    _check_lengths(tokenizer, train_ds, cfg.max_length)
    args = sft_config(params, work_dir, len(train_ds), eval_ds is not None, [])
    callbacks = []
    if live_dir is not None:
        from transformers.integrations import DVCLiveCallback

        from dvclive import Live

        # dvcyaml=False: dvc.yaml already declares these metrics and plots; by default dvclive
        # would rewrite it on every run.
        callbacks.append(DVCLiveCallback(live=Live(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False)))
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=_lora_config(params) if cfg.method == "lora" else None,
        callbacks=callbacks,
    )
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    trainer.save_model(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    tokens = sum(len(row["input_ids"]) for row in trainer.train_dataset) * cfg.epochs
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    best = trainer.state.best_metric
    card = {"base_model": params.student.model, "checkpoint": checkpoint, "method": cfg.method, "loss": cfg.loss}
    write_json(Path(out_dir) / STUDENT_CARD, card)
    return {
        "method": cfg.method,
        "loss": cfg.loss,
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


def _check_lengths(tokenizer, dataset, max_length: int) -> None:
    """Truncation would cut the answer (it comes last), so over-long examples are an error."""
    lengths = [
        len(
            tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
        for row in dataset
    ]
    too_long = sum(n > max_length for n in lengths)
    if too_long:
        raise ConfigError(
            f"params.yaml: train.max_length: {too_long} of {len(lengths)} training sequences are longer than "
            f"{max_length} tokens (the longest has {max(lengths)}); raise train.max_length"
        )


def load_card(student_dir: Path) -> dict:
    return json.loads((Path(student_dir) / STUDENT_CARD).read_text(encoding="utf-8"))
