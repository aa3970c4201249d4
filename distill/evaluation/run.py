"""Evaluate the configured models on the prepared test split."""

from __future__ import annotations

import gc
from pathlib import Path

from distill.config import Params
from distill.evaluation.harness import evaluate_model
from distill.evaluation.metrics import summarize
from distill.examples import read_examples
from distill.inference.hf import HFChat
from distill.inference.llamacpp import LlamaCppChat
from distill.models import ModelError, resolve_gguf, resolve_hf
from distill.preparation import RESOURCES, TEST
from distill.tasks import make_task


def _resolved(key: str, resolve, spec: str):
    try:
        return resolve(spec)
    except ModelError as e:
        raise ModelError(f"params.yaml: {key}: {e}") from None


def _model_builders(params: Params) -> dict:
    """Model name in metrics -> a function that loads it (loaded one at a time to bound memory).

    Every model answers greedily with the same answer-length cap, so only the model differs.
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
        "teacher": lambda: LlamaCppChat(
            "teacher",
            _resolved("teacher.model", resolve_gguf, params.teacher.model),
            n_ctx=params.teacher.n_ctx,
            threads=ev.threads,
            temperature=0.0,
            max_tokens=ev.max_new_tokens,
        ),
    }


def evaluate_models(params: Params, prepared_dir: Path) -> tuple[dict, list[dict]]:
    """Run every model on the test split; returns (metrics, prediction records)."""
    examples = read_examples(Path(prepared_dir) / TEST)
    if params.evaluate.limit:
        examples = examples[: params.evaluate.limit]
    task = make_task(params.task, Path(prepared_dir) / RESOURCES)
    records: list[dict] = []
    models = {}
    try:
        for name, build in _model_builders(params).items():
            model = build()
            try:
                model_records = evaluate_model(model, task, examples)
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
        "model_specs": {"base": params.student.model, "teacher": params.teacher.model},
    }
    return metrics, records
