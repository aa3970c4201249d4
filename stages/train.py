"""Stage train: fine-tune the student on the validated synthetic pairs (SFT, LoRA or full).

Outputs: models/student/ (a peft adapter or full weights, the tokenizer, distill_student.json),
metrics/train.json, and dvclive/ (loss and eval-loss curves for `dvc plots`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from distill.config import load_params
from distill.examples import read_examples
from distill.io import atomic_dir, write_json
from distill.models import ModelError, resolve_hf
from distill.preparation import RESOURCES
from distill.tasks import make_task
from distill.training.sft import train_sft
from stages import run_stage

PREPARED = Path("data/prepared")
SYNTHETIC = Path("data/synthetic")
VALIDATED = Path("data/validated")
OUT_DIR = Path("models/student")


def main() -> None:
    params = load_params()
    try:
        checkpoint = resolve_hf(params.student.model)
    except ModelError as e:
        raise ModelError(f"params.yaml: student.model: {e}") from None
    train = read_examples(VALIDATED / "train.jsonl")
    val = read_examples(VALIDATED / "val.jsonl")
    task = make_task(params.task, PREPARED / RESOURCES, SYNTHETIC / RESOURCES)
    try:
        with atomic_dir(OUT_DIR) as staging, tempfile.TemporaryDirectory(prefix="distill-train-") as work:
            metrics = train_sft(params, task, checkpoint, train, val, staging, Path(work), live_dir=Path("dvclive"))
    finally:
        task.close()
    write_json("metrics/train.json", metrics)
    print(
        f"train: {metrics['steps']} steps, train loss {metrics['train_loss']}, best val loss "
        f"{metrics['best_eval_loss']}, {metrics['trained_tokens_per_s']} tok/s, {metrics['seconds']}s"
    )


if __name__ == "__main__":
    run_stage(main)
