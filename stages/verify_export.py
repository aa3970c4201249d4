"""Stage verify_export: the evaluate harness on every exported GGUF through llama-cpp-python.

Outputs metrics/export.json (per file: size, execution accuracy, delta against the HF student,
tok/s against HF on CPU, and a flag past export.max_accuracy_drop) and
data/eval/export_predictions.jsonl (every GGUF answer, graded).
"""

from __future__ import annotations

from pathlib import Path

from distill.config import load_params
from distill.evaluation.run import test_examples
from distill.export.verify import verify_export
from distill.io import read_jsonl_numbered, write_json, write_jsonl
from distill.preparation import RESOURCES
from distill.tasks import make_task
from stages import run_stage

PREPARED = Path("data/prepared")
EXPORT = Path("models/export")
PREDICTIONS = Path("data/eval/predictions.jsonl")


def main() -> None:
    params = load_params()
    examples = test_examples(params, PREPARED)
    eval_records = [obj for _, obj in read_jsonl_numbered(PREDICTIONS)]
    task = make_task(params.task, PREPARED / RESOURCES)
    try:
        metrics, records = verify_export(params, task, examples, EXPORT, eval_records)
    finally:
        task.close()
    write_jsonl("data/eval/export_predictions.jsonl", records)
    write_json("metrics/export.json", metrics)
    ref = metrics["reference"]
    print(f"{'HF student':>24}: {ref['execution_accuracy']:.1%}, {ref['tokens_per_s']} tok/s")
    for name, m in metrics["files"].items():
        print(
            f"{name:>24}: {m['execution_accuracy']:.1%} ({m['delta_vs_hf']:+.1%}), {m['bytes'] / 2**20:.0f} MiB, "
            f"{m['tokens_per_s']} tok/s ({m['speedup_vs_hf']}x HF){'  FLAGGED' if m['flagged'] else ''}"
        )


if __name__ == "__main__":
    run_stage(main)
