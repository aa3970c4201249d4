"""Grade the exported student: every GGUF on the batched llama.cpp runtime, on the whole test split.

The student the report names is the GGUF the Modelfile ships (the first of
`export.quantizations`). Each quantization is compared with the f16 GGUF on first answers, which
are greedy on both: repair turns sample. The merged transformers fp32 checkpoint answers only the
first `evaluate.hf_check_questions`, to show that merging and conversion lose nothing; it is
4–5× slower than llama.cpp on CPU, so it no longer grades the whole split.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from distill.config import EvaluateConfig, ExportConfig
from distill.evaluation.harness import evaluate_model
from distill.evaluation.metrics import accuracy_block, repair_fields
from distill.evaluation.records import HFCheck, Prediction
from distill.evaluation.run import grade_model
from distill.evaluation.speed import gguf_latency
from distill.examples import Example
from distill.export.run import gguf_files, read_manifest
from distill.inference.hf import HFChat
from distill.inference.llamacpp import LlamaCppChat
from distill.layouts import HF_DIR
from distill.models import GGUFSource
from distill.tasks.base import Grading

STUDENT = "student"
"""The model name of the shipped GGUF in the merged metrics and predictions."""


def _first_answer_accuracy(summary: dict) -> float:
    """Execution accuracy of the first, greedy answers (the final ones when nothing was repaired)."""
    return summary.get("first_answer", summary)["execution_accuracy"]


def hf_check(
    export_dir: Path, task: Grading, examples: list[Example], f16_records: list[Prediction], ev: EvaluateConfig
) -> HFCheck:
    """The merged transformers fp32 student's greedy first answers on `examples` against the f16
    GGUF's (`f16_records`, same order): both accuracies and the share of identical answers."""
    # One question at a time: left-padded batches can move fp32 greedy outputs by a token.
    hf = HFChat("student-hf", str(Path(export_dir) / HF_DIR), 1, ev.max_new_tokens, threads=ev.threads)
    try:
        records = evaluate_model(hf, task, examples, few_shot=False)
    finally:
        hf.close()
    f16_first = [r["first_output"] if r.get("repairs") else r["raw_output"] for r in f16_records]
    return {
        "n": len(examples),
        "hf_fp32": accuracy_block([r["correct"] for r in records])["execution_accuracy"],
        "gguf_f16": accuracy_block([r["correct"] and not r.get("repairs") for r in f16_records])["execution_accuracy"],
        "identical_answers": round(
            sum(r["raw_output"] == f for r, f in zip(records, f16_first, strict=True)) / len(examples), 4
        ),
    }


def grade_exports(
    export_dir: Path, task: Grading, examples: list[Example], ev: EvaluateConfig, ex: ExportConfig
) -> tuple[dict, list[Prediction]]:
    """Grade every exported GGUF on `examples` under the student prompt, measure each one's
    latency one question at a time (`evaluate.speed_questions`, on a fresh one-slot runtime, as
    the teacher is timed), and run the HF check.

    Returns (results, graded records): results hold `models.student` (the shipped GGUF's metrics
    entry), `files` (per GGUF: size, accuracy, first-answer delta against f16, speed, flag),
    `speed` (the shipped GGUF's, `gguf_latency`), `hf_check` and `red_flags`. Records of the shipped GGUF are
    named `student`, the others by file name. Files are compared on greedy answers; with
    `evaluate.samples` > 1 the shipped GGUF is also graded on samples (pass@k), and that grading
    is its `student` entry and records."""
    greedy = dataclasses.replace(ev, samples=1)
    manifest = read_manifest(export_dir)
    shipped = manifest["modelfile_gguf"]
    benchmarks = task.benchmark_sets(ev.limit)
    files, records, entries, speeds = {}, [], {}, {}
    by_file: dict[str, list[dict]] = {}
    for kind, path in gguf_files(export_dir).items():
        name = STUDENT if path.name == shipped else path.name
        model = LlamaCppChat(
            name,
            GGUFSource(path=path),
            n_ctx=ex.n_ctx,
            threads=ev.threads,
            max_tokens=ev.max_new_tokens,
            slots=ev.batch_size,
        )
        try:
            shipped_benchmarks = benchmarks if name == STUDENT else None
            entry, graded = grade_model(model, ("zero_shot",), task, examples, greedy, shipped_benchmarks)
            by_file[path.name] = [r for r in graded if r.get("split", "test") == "test"]
            if name == STUDENT and ev.samples > 1:
                sampled_entry, graded = grade_model(model, ("zero_shot",), task, examples, ev, shipped_benchmarks)
                entries[path.name] = {**sampled_entry, "first_answer_greedy": _first_answer_accuracy(entry)}
            else:
                entries[path.name] = entry
        finally:
            model.close()
        speeds[path.name] = gguf_latency(GGUFSource(path=path), task, examples, ev, ex.n_ctx, few_shot=False)
        files[path.name] = {
            "type": kind,
            "bytes": path.stat().st_size,
            "execution_accuracy": entry["execution_accuracy"],
            "ci95": entry["ci95"],
            "n": entry["n"],
            "first_answer_accuracy": _first_answer_accuracy(entry),
            "tokens_per_s": speeds[path.name]["tokens_per_s"],
            "seconds_per_answer": speeds[path.name]["seconds_per_answer"],
            "by_difficulty": entry["by_difficulty"],
            **repair_fields(entry),
            "shipped": path.name == shipped,
        }
        records += graded
    f16 = next(name for name, f in files.items() if f["type"] == "f16")
    for f in files.values():
        f["delta_vs_f16"] = round(f["first_answer_accuracy"] - files[f16]["first_answer_accuracy"], 4)
        f["flagged"] = -f["delta_vs_f16"] > ex.max_accuracy_drop
    flags = [
        {
            "flag": "quantization_accuracy_drop",
            "file": name,
            "message": f"{name} loses {-f['delta_vs_f16']:.1%} first-answer execution accuracy against {f16} "
            f"(export.max_accuracy_drop {ex.max_accuracy_drop:.1%})",
        }
        for name, f in files.items()
        if f["flagged"]
    ]
    n_check = min(ev.hf_check_questions, len(examples))
    check = hf_check(export_dir, task, examples[:n_check], by_file[f16][:n_check], ev) if n_check else None
    results = {
        "task": task.name,
        "n": len(examples),
        "models": {STUDENT: {**entries[shipped], "gguf": shipped}},
        "model_specs": {STUDENT: f"{shipped} (from {manifest['base_model']})"},
        "files": files,
        "speed": {"model": shipped, **speeds[shipped]},
        "hf_check": check,
        "red_flags": flags,
    }
    return results, records
