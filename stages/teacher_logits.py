"""Stage teacher_logits: the teacher's top-k soft labels on every answer token of the validated
training sequences, for train.loss: kd or auto. With train.loss: sft it only records that it was
skipped; under auto, a teacher that cannot give soft labels is recorded as a fall back to SFT.

Outputs: data/teacher_logits/ (manifest.json, train.safetensors, val.safetensors). Its params are
the teacher, the student (whose tokenizer fixes the sequences), train.loss, train.kd.top_k and
train.max_length, so changing any other training param never recomputes the labels.
"""

from __future__ import annotations

from distill.config import load_params
from distill.examples import read_examples
from distill.io import atomic_dir
from distill.layouts import PREPARED, RESOURCES, SPLIT_FILES, SYNTHETIC, TEACHER_LOGITS, VALIDATED
from distill.models import resolve_hf, resolve_param
from distill.tasks import make_task
from distill.training.soft_labels import SPLITS, write_teacher_logits
from stages import run_stage


def main() -> None:
    params = load_params()
    splits = {split: read_examples(VALIDATED / SPLIT_FILES[split]) for split in SPLITS}
    checkpoint = resolve_param("student.model", resolve_hf, params.student.model) if params.train.loss != "sft" else ""
    with (
        make_task(params.task, PREPARED / RESOURCES, SYNTHETIC / RESOURCES) as task,
        atomic_dir(TEACHER_LOGITS) as staging,
    ):
        manifest = write_teacher_logits(
            params.train, params.teacher, params.student.model, task, splits, checkpoint, staging
        )
    if manifest["status"] == "ok":
        print(f"teacher_logits: {manifest['answer_tokens']} answer tokens scored in {manifest['seconds']}s")
    else:
        print(f"teacher_logits: {manifest['status']} ({manifest['reason'].splitlines()[0]})")


if __name__ == "__main__":
    run_stage(main, "teacher_logits")
