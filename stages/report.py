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
from stages import TIMINGS, run_stage

EVAL = Path("data/eval")
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
LOSS_CURVES = {
    "train": Path("dvclive/plots/metrics/loss.tsv"),
    "validation": Path("dvclive/plots/metrics/eval/loss.tsv"),
}


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
    reference_records = _records(EVAL / "reference_predictions.jsonl")
    student_records = _records(EVAL / "student_predictions.jsonl")
    records = reference_records + student_records
    reference, student = read_json(EVAL / "reference.json"), read_json(EVAL / "student.json")
    trained = read_json(Path("metrics/train.json"))
    student["model_specs"]["student"] += f", {trained['method']} + {trained['loss']}"  # under auto, which ran
    metrics = merge_results(reference, student, records, _test_ids(records))
    timings = {s: read_json(TIMINGS / f"{s}.json")["wall_s"] for s in STAGES if (TIMINGS / f"{s}.json").is_file()}
    data = build_report(
        metrics,
        records,
        generate_metrics=read_json(Path("metrics/generate.json")),
        gate_metrics=read_json(Path("metrics/teacher_gate.json")),
        timings=timings,
        loss_curves={name: points for name, path in LOSS_CURVES.items() if (points := _curve(path))},
    )
    write_json("metrics/eval.json", metrics)
    write_jsonl(EVAL / "predictions.jsonl", records)
    write_text("metrics/report.md", render_markdown(data))
    write_text("metrics/report.html", render_html(data))
    write_json("metrics/accuracy.json", accuracy_plot_rows(data))
    for name, m in metrics["models"].items():
        low, high = m["ci95"]
        print(f"{name:>8}: execution accuracy {m['execution_accuracy']:.1%} (95% CI {low:.1%}–{high:.1%}, n={m['n']})")
    print("report: metrics/eval.json, metrics/report.md, metrics/report.html")


if __name__ == "__main__":
    run_stage(main, "report")
