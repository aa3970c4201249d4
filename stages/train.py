"""Stage train: fine-tune the student on the validated synthetic pairs: SFT, or KD on the teacher's
soft labels from the teacher_logits stage; LoRA or full weights.

Outputs: models/student/ (a peft adapter or full weights, the tokenizer, distill_student.json),
metrics/train.json, and dvclive/ (loss and eval-loss curves for `dvc plots`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from distill.config import ConfigError, load_params
from distill.examples import read_examples
from distill.io import atomic_dir, write_json
from distill.layouts import (
    DVCLIVE,
    PREPARED,
    RESOURCES,
    SOFT_LABELS_MANIFEST,
    SPLIT_FILES,
    STUDENT,
    SYNTHETIC,
    TEACHER_LOGITS,
    VALIDATED,
    stage_metrics,
)
from distill.models import resolve_hf, resolve_param
from distill.tasks import make_task
from distill.training.data import capped
from distill.training.soft_labels import SPLITS, load_split, read_manifest
from distill.training.trainer import train_student
from stages import run_stage


def main() -> None:
    params = load_params()
    checkpoint = resolve_param("student.model", resolve_hf, params.student.model)
    splits = {split: read_examples(VALIDATED / SPLIT_FILES[split]) for split in SPLITS}
    available = len(splits["train"])
    splits["train"] = capped(splits["train"], params.train.max_examples, params.train.seed)
    soft_labels, note = None, ""
    if params.train.loss != "sft":
        manifest = read_manifest(TEACHER_LOGITS)
        if manifest["status"] == "sft_fallback":
            why = "train.loss auto" if params.train.loss == "auto" else "train.kd.fallback_to_sft"
            note = f"kd unavailable, trained with sft ({why}): " + manifest["reason"]
            print(f"train: {note}")
        elif manifest["status"] != "ok":
            raise ConfigError(
                f"{TEACHER_LOGITS / SOFT_LABELS_MANIFEST}: {manifest['status']} ({manifest['reason']}), "
                f"but train.loss is {params.train.loss}; run `dvc repro teacher_logits`"
            )
        else:
            soft_labels = {
                split: load_split(TEACHER_LOGITS, split, manifest, [ex.id for ex in examples])
                for split, examples in splits.items()
            }
    with (
        make_task(params.task, PREPARED / RESOURCES, SYNTHETIC / RESOURCES) as task,
        atomic_dir(STUDENT) as staging,
        tempfile.TemporaryDirectory(prefix="distill-train-") as work,
    ):
        metrics = train_student(
            params.train,
            params.student.model,
            task,
            checkpoint,
            splits["train"],
            splits["val"],
            staging,
            Path(work),
            live_dir=DVCLIVE,
            soft_labels=soft_labels,
        )
    metrics["train_examples_available"] = available
    metrics["loss_param"] = params.train.loss
    metrics["loss_reason"] = note or f"train.loss is {params.train.loss}" + (
        ": the teacher gave soft labels on the student's tokenizer" if params.train.loss == "auto" else ""
    )
    if note:
        metrics["note"] = note
    write_json(stage_metrics("train"), metrics)
    print(
        f"train ({metrics['loss']}, {metrics['method']}): {metrics['steps']} steps, train loss "
        f"{metrics['train_loss']}, best val loss {metrics['best_eval_loss']}, "
        f"{metrics['trained_tokens_per_s']} tok/s, {metrics['seconds']}s"
    )


if __name__ == "__main__":
    run_stage(main, "train")
