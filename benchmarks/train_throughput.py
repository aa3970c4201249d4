"""Student training throughput: our training path against a naive pad-to-max HF Trainer baseline.

    python benchmarks/train_throughput.py [--examples 16] [--baseline-batch 2] [--data data/prepared/test.jsonl]

Both runs train the configured student (params.yaml: student.model, train.method, lr, LoRA
settings) for one epoch on the same examples, with the same examples per optimizer update
(train.batch_size x train.grad_accum), one after the other in this process, and count the same
real tokens: every token of every training sequence, padding excluded. They differ only in how
batches are made:
- ours: the train stage's own trainer (distill.training.trainer.build_trainer): trl SFTTrainer
  with train.packing (default shared_prefix: each batch one row holding the common prompt once;
  exact, see distill/training/packing.py);
- baseline: transformers.Trainer on rows padded to train.max_length, randomly batched, in
  micro-batches of --baseline-batch accumulated to the same update size (8 rows of 2,048 tokens
  in one step need more than 24 GB).
Printed: real tokens per second of each and the ratio (target >= 1.5x).

The examples default to the prepared seed questions with their gold SQL (data/prepared/test.jsonl,
so `dvc repro prepare` first): they use exactly the training prompt, and there are enough of them
whatever the size of the synthetic set. Only speed is measured here; no model is kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.config import load_params  # noqa: E402
from distill.examples import read_examples  # noqa: E402
from distill.layouts import RESOURCES  # noqa: E402
from distill.models import resolve_hf  # noqa: E402
from distill.tasks import make_task  # noqa: E402
from distill.training.data import tokenize_example  # noqa: E402
from distill.training.trainer import build_trainer, lora_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def run_ours(params, task, checkpoint, examples, work: Path) -> float:
    trainer, _ = build_trainer(params.train, task, checkpoint, examples, [], work)
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start


def run_baseline(params, task, checkpoint, examples, work: Path, micro_batch: int) -> float:
    import torch
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, default_data_collator

    cfg = params.train
    torch.manual_seed(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = []
    for ex in examples:
        seq = tokenize_example(tokenizer, task, ex)
        n, width = len(seq.input_ids), cfg.max_length
        labels = [-100] * seq.completion_start + seq.input_ids[seq.completion_start :]
        rows.append(
            {
                "input_ids": seq.input_ids + [pad] * (width - n),
                "attention_mask": [1] * n + [0] * (width - n),
                "labels": labels + [-100] * (width - n),
            }
        )
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    if cfg.method == "lora":
        model = get_peft_model(model, lora_config(params.train.lora))
    args = TrainingArguments(
        output_dir=str(work),
        learning_rate=cfg.lr,
        num_train_epochs=1,
        per_device_train_batch_size=micro_batch,
        gradient_accumulation_steps=cfg.batch_size * cfg.grad_accum // micro_batch,  # main() checks it divides
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.scheduler,
        use_cpu=True,
        seed=cfg.seed,
        save_strategy="no",
        eval_strategy="no",
        logging_steps=1,
        report_to=[],
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), data_collator=default_data_collator
    )
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=16, help="examples per run (one epoch each)")
    parser.add_argument(
        "--baseline-batch", type=int, default=2, help="the baseline's rows per step; must divide the update size"
    )
    parser.add_argument("--data", default="data/prepared/test.jsonl")
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    params = load_params(REPO / "params.yaml")
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, epochs=1.0))
    cfg = params.train
    update = cfg.batch_size * cfg.grad_accum
    if update % args.baseline_batch:
        parser.error(f"--baseline-batch {args.baseline_batch} does not divide the {update} examples per update")
    torch.set_num_threads(cfg.threads)
    checkpoint = resolve_hf(params.student.model)
    examples = read_examples(REPO / args.data)[: args.examples]
    task = make_task(params.task, REPO / "data/prepared" / RESOURCES)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    lengths = [len(tokenize_example(tokenizer, task, ex).input_ids) for ex in examples]
    real = sum(lengths)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ours = run_ours(params, task, checkpoint, examples, Path(tmp) / "ours")
            baseline = run_baseline(params, task, checkpoint, examples, Path(tmp) / "baseline", args.baseline_batch)
    finally:
        task.close()
    print(
        f"{params.student.model}, {cfg.method}, {len(examples)} examples of {min(lengths)}-{max(lengths)} tokens "
        f"(mean {real / len(lengths):.0f}), {update} per update, "
        f"max_length {cfg.max_length}, {cfg.threads} threads"
    )
    ours_label = f"ours (packing {cfg.packing}, {cfg.batch_size} per step)"
    base_label = f"baseline (pad to max_length, {args.baseline_batch} per step)"
    width = max(len(ours_label), len(base_label)) + 1
    print(f"{ours_label + ':':{width}} {ours:7.1f} s  {real / ours:6.1f} real tok/s")
    print(f"{base_label + ':':{width}} {baseline:7.1f} s  {real / baseline:6.1f} real tok/s")
    ratio = baseline / ours
    print(f"throughput ratio ours vs baseline: {ratio:.2f}x (target >= 1.5x) {'PASS' if ratio >= 1.5 else 'FAIL'}")


if __name__ == "__main__":
    main()
