"""Re-measure the exported GGUFs with the evaluation harness: what does each quantization lose?

The reference is the trained student as the evaluate stage measured it (the HF model with its
adapter merged, fp32, the same weights `export` saved), on the same questions, so the delta is
the cost of the GGUF conversion and quantization alone. The delta compares first answers, which
are greedy on both sides: repair turns sample, and torch and llama.cpp draw different samples.
"""

from __future__ import annotations

import gc
from pathlib import Path

from distill.config import Params
from distill.evaluation.harness import Repair, evaluate_model
from distill.evaluation.metrics import repair_fields, summarize
from distill.evaluation.speed import decode_speed
from distill.examples import Example
from distill.export.llama_cpp import ExportError
from distill.export.run import HF_DIR, gguf_files
from distill.inference.hf import HFChat
from distill.inference.llamacpp import LlamaCppChat
from distill.models import GGUFSource
from distill.tasks.base import Task

REFERENCE = "student"
"""The model name of the trained student in the evaluate stage's predictions."""


def reference_records(eval_records: list[dict], examples: list[Example]) -> list[dict]:
    """The evaluate stage's graded student answers, in `examples` order; an error if evaluate ran
    on other questions (a stale or differently limited evaluation)."""
    by_id = {
        r["id"]: r
        for r in eval_records
        if r["model"] == REFERENCE and r.get("split", "test") == "test" and r.get("prompt", "zero_shot") == "zero_shot"
    }
    missing = [ex.id for ex in examples if ex.id not in by_id]
    if missing:
        raise ExportError(
            f"data/eval/predictions.jsonl has no {REFERENCE} answer for {len(missing)} test question(s) "
            f"(first: {missing[0]}); re-run `dvc repro evaluate` with the same evaluate.limit"
        )
    return [by_id[ex.id] for ex in examples]


def _greedy_accuracy(summary: dict) -> float:
    """Execution accuracy of the first, greedy answers (the final ones when nothing was repaired)."""
    return summary.get("first_answer", summary)["execution_accuracy"]


def verify_export(
    params: Params, task: Task, examples: list[Example], export_dir: Path, eval_records: list[dict]
) -> tuple[dict, list[dict]]:
    """Metrics per GGUF (size, accuracy, delta against the HF student, tok/s against HF) and the
    graded GGUF answers."""
    ev, ex = params.evaluate, params.export
    if ev.samples > 1:
        raise ExportError(
            "params.yaml: evaluate.samples: verify_export compares greedy answers with the evaluate stage's; "
            "run it with evaluate.samples: 1"
        )
    reference = summarize(reference_records(eval_records, examples))
    speed_set = examples[: ex.speed_questions]

    hf = HFChat(
        "student-hf", str(Path(export_dir) / HF_DIR), batch_size=1, max_new_tokens=ev.max_new_tokens, threads=ev.threads
    )
    try:
        hf_speed = decode_speed(hf, task, speed_set, few_shot=False)
    finally:
        del hf
        gc.collect()

    files, records = {}, []
    for kind, path in gguf_files(export_dir).items():
        name = path.name
        model = LlamaCppChat(
            name,
            GGUFSource(path=path),
            n_ctx=ex.n_ctx,
            threads=ev.threads,
            max_tokens=ev.max_new_tokens,
            slots=ev.batch_size,
        )
        try:
            speed = decode_speed(model, task, speed_set, few_shot=False)
            model_records = evaluate_model(model, task, examples, repair=Repair.of(ev), few_shot=False)
        finally:
            model.close()
        summary = summarize(model_records)
        delta = round(_greedy_accuracy(summary) - _greedy_accuracy(reference), 4)
        files[name] = {
            "type": kind,
            "bytes": path.stat().st_size,
            "execution_accuracy": summary["execution_accuracy"],
            "ci95": summary["ci95"],
            "n": summary["n"],
            "delta_vs_hf": delta,
            "tokens_per_s": speed["tokens_per_s"],
            "speedup_vs_hf": round(speed["tokens_per_s"] / hf_speed["tokens_per_s"], 2)
            if hf_speed["tokens_per_s"]
            else None,
            "seconds_per_answer": speed["seconds_per_answer"],
            "by_difficulty": summary["by_difficulty"],
            **repair_fields(summary),
            "flagged": -delta > ex.max_accuracy_drop,
        }
        records += model_records
    flags = [
        {
            "flag": "quantization_accuracy_drop",
            "file": name,
            "message": f"{name} loses {-m['delta_vs_hf']:.1%} first-answer execution accuracy against the HF student "
            f"(export.max_accuracy_drop {ex.max_accuracy_drop:.1%})",
        }
        for name, m in files.items()
        if m["flagged"]
    ]
    metrics = {
        "task": params.task.name,
        "n": len(examples),
        "reference": {
            "model": "student, HF fp32 with the adapter merged (evaluate stage)",
            "execution_accuracy": reference["execution_accuracy"],
            "ci95": reference["ci95"],
            **repair_fields(reference),
            "tokens_per_s": hf_speed["tokens_per_s"],
            "seconds_per_answer": hf_speed["seconds_per_answer"],
        },
        "speed_questions": len(speed_set),
        "files": files,
        "red_flags": flags,
    }
    return metrics, records
