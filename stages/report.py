"""Stage report: metrics/report.md and metrics/report.html (models, GGUF files, per-difficulty
bars, red flags, teacher cost, and where student and teacher disagree), plus
metrics/accuracy.json for the `dvc plots` accuracy bars."""

from __future__ import annotations

import json
from pathlib import Path

from distill.evaluation.report import accuracy_plot_rows, build_report, render_html, render_markdown
from distill.io import read_jsonl_numbered, write_json, write_text
from stages import run_stage


def _load(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def main() -> None:
    data = build_report(
        _load("metrics/eval.json"),
        [obj for _, obj in read_jsonl_numbered("data/eval/predictions.jsonl")],
        export_metrics=_load("metrics/export.json"),
        generate_metrics=_load("metrics/generate.json"),
        gate_metrics=_load("metrics/teacher_gate.json"),
    )
    write_text("metrics/report.md", render_markdown(data))
    write_text("metrics/report.html", render_html(data))
    write_json("metrics/accuracy.json", accuracy_plot_rows(data))
    print("report: metrics/report.md, metrics/report.html")


if __name__ == "__main__":
    run_stage(main)
