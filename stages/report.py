"""Stage report: merge what the reference stage (base, teacher) and the evaluate stage (the exported
student) graded into metrics/eval.json, with the gap closed and its CI, then write the report.

Outputs: metrics/eval.json (the models, the GGUF files that metrics/export.json used to hold, the
HF check, the speed comparison, the gap and red flags), data/eval/predictions.jsonl (every graded
answer), metrics/report.md and metrics/report.html (tables, per-difficulty bars, teacher cost,
loss curves, stage wall times, disagreements) and metrics/accuracy.json for `dvc plots`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from distill.evaluation.report import accuracy_plot_rows, build_report, render_html, render_markdown
from distill.evaluation.run import merge_results
from distill.io import read_json, read_jsonl_numbered, write_json, write_jsonl, write_text
from distill.layouts import (
    ACCURACY_PLOT,
    EVAL_METRICS,
    LOSS_CURVES,
    PREDICTIONS,
    REFERENCE,
    REFERENCE_PREDICTIONS,
    REPORT_HTML,
    REPORT_MD,
    STUDENT_PREDICTIONS,
    STUDENT_RESULTS,
    stage_metrics,
    stage_time,
)
from stages import run_stage

STAGES = (
    "prepare",
    "teacher_gate",
    "generate",
    "validate",
    "teacher_logits",
    "train",
    "export",
    "export_base",
    "reference",
    "evaluate",
)
"""Every stage before the report, in pipeline order (each writes metrics/time/<stage>.json)."""


def _records(path: Path) -> list[dict]:
    return [obj for _, obj in read_jsonl_numbered(path)]


def _curve(path: Path) -> list[tuple[float, float]]:
    """(step, loss) points of a dvclive TSV; empty when the file is missing (no training yet)."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        return [(float(row["step"]), float(row["loss"])) for row in csv.DictReader(f, delimiter="\t")]


def _test_ids(records: list[dict]) -> list[str]:
    """The test question ids in the order the teacher was graded on them."""
    ids = [r["id"] for r in records if r["model"] == "teacher" and r.get("split", "test") == "test"]
    return list(dict.fromkeys(ids))


def main() -> None:
    records = _records(REFERENCE_PREDICTIONS) + _records(STUDENT_PREDICTIONS)
    reference, student = read_json(REFERENCE), read_json(STUDENT_RESULTS)
    trained = read_json(stage_metrics("train"))
    student["model_specs"]["student"] += f", {trained['method']} + {trained['loss']}"  # under auto, which ran
    metrics = merge_results(reference, student, records, _test_ids(records))
    timings = {s: read_json(stage_time(s))["wall_s"] for s in STAGES if stage_time(s).is_file()}
    data = build_report(
        metrics,
        records,
        generate_metrics=read_json(stage_metrics("generate")),
        gate_metrics=read_json(stage_metrics("teacher_gate")),
        timings=timings,
        loss_curves={name: points for name, path in LOSS_CURVES.items() if (points := _curve(path))},
    )
    write_json(EVAL_METRICS, metrics)
    write_jsonl(PREDICTIONS, records)
    write_text(REPORT_MD, render_markdown(data))
    write_text(REPORT_HTML, render_html(data))
    write_json(ACCURACY_PLOT, accuracy_plot_rows(data))
    for name, m in metrics["models"].items():
        low, high = m["ci95"]
        print(f"{name:>8}: execution accuracy {m['execution_accuracy']:.1%} (95% CI {low:.1%}–{high:.1%}, n={m['n']})")
    print(f"report: {EVAL_METRICS}, {REPORT_MD}, {REPORT_HTML}")


if __name__ == "__main__":
    run_stage(main, "report")
