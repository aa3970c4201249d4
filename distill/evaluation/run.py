"""Evaluate the configured models on the prepared test split."""

from __future__ import annotations

import gc
from pathlib import Path

from distill.config import Params
from distill.evaluation.harness import evaluate_model
from distill.evaluation.metrics import red_flags, summarize
from distill.examples import read_examples
from distill.inference.hf import HFChat
from distill.models import ModelError, resolve_hf
from distill.preparation import RESOURCES, TEST
from distill.tasks import make_task
from distill.teachers import make_client
from distill.teachers.chat import TeacherChat


def _resolved(key: str, resolve, spec: str):
    try:
        return resolve(spec)
    except ModelError as e:
        raise ModelError(f"params.yaml: {key}: {e}") from None


def _model_builders(params: Params, teacher_cache: Path, student_dir: Path | None) -> dict:
    """Model name in metrics -> a function that loads it (loaded one at a time to bound memory).

    Every model answers greedily with the same answer-length cap, so only the model differs. The
    teacher goes through the teacher client, so an API teacher is cached and budgeted here too.
    """
    ev = params.evaluate
    return {
        "base": lambda: HFChat(
            "base",
            _resolved("student.model", resolve_hf, params.student.model),
            batch_size=ev.batch_size,
            max_new_tokens=ev.max_new_tokens,
            threads=ev.threads,
        ),
        **(
            {
                "student": lambda: HFChat(
                    "student",
                    str(student_dir),
                    batch_size=ev.batch_size,
                    max_new_tokens=ev.max_new_tokens,
                    threads=ev.threads,
                )
            }
            if student_dir is not None
            else {}
        ),
        "teacher": lambda: TeacherChat("teacher", make_client(params.teacher, teacher_cache), ev.max_new_tokens),
    }


def evaluate_models(
    params: Params, prepared_dir: Path, teacher_cache: Path, student_dir: Path | None = None
) -> tuple[dict, list[dict]]:
    """Run every model on the test split; returns (metrics, prediction records)."""
    examples = read_examples(Path(prepared_dir) / TEST)
    if params.evaluate.limit:
        examples = examples[: params.evaluate.limit]
    task = make_task(params.task, Path(prepared_dir) / RESOURCES)
    records: list[dict] = []
    models = {}
    teacher_usage = None
    try:
        for name, build in _model_builders(params, teacher_cache, student_dir).items():
            model = build()
            try:
                model_records = evaluate_model(model, task, examples)
                if isinstance(model, TeacherChat):
                    teacher_usage = model.client.ledger.summary()
            finally:
                if hasattr(model, "close"):
                    model.close()
                del model
                gc.collect()
            records += model_records
            models[name] = summarize(model_records)
    finally:
        task.close()
    metrics = {
        "task": params.task.name,
        "split": "test",
        "n": len(examples),
        "models": models,
        "model_specs": {
            "base": params.student.model,
            **({"student": f"{student_dir} ({params.train.method}, {params.train.loss})"} if student_dir else {}),
            "teacher": f"{params.teacher.provider}:{params.teacher.model}",
        },
        "teacher_usage": teacher_usage,
        "red_flags": red_flags(models),
    }
    return metrics, records
