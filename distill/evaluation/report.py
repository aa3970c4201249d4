"""The run's report, as Markdown and as standalone HTML, from the metrics files and predictions.

Both renderings come from one `ReportData`, so the two files always say the same thing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from distill.examples import DIFFICULTIES

DISAGREEMENTS = 10
PROMPT_NAMES = {"few_shot": "few-shot prompt", "zero_shot": "zero-shot prompt"}
_BAR_WIDTH = 20


@dataclass
class ReportData:
    task: str
    n: int
    rows: list[dict]
    """One per model or exported file: name, accuracy, ci95, n, and optional extras."""
    by_difficulty: dict[str, dict[str, float]]
    """difficulty → model → execution accuracy."""
    red_flags: list[str]
    teacher_usage: dict[str, dict]
    """stage → the teacher ledger summary it wrote."""
    disagreements: list[dict]
    notes: list[str] = field(default_factory=list)
    gap: dict | None = None
    """`gap_report`'s result from metrics/eval.json, when student, teacher and base were graded."""
    speed: dict | None = None
    """metrics/eval.json's `speed`: student and teacher latency one question at a time."""
    hf_check: dict | None = None
    timings: dict[str, float] = field(default_factory=dict)
    """stage → wall seconds of its last run."""
    loss_curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """`train` and `validation` → (step, loss) points."""


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def _repair_note(m: dict) -> str:
    """How much of the accuracy came from the repair turn, so the first-try number is never hidden."""
    if not m.get("repaired"):
        return ""
    return (
        f"; first answer {_pct(m['first_answer']['execution_accuracy'])}, "
        f"{m['repaired']} sent back with their error, {m['repaired_correct']} then right"
    )


def _difficulty_rank(difficulty: str) -> tuple[int, str]:
    """easy, medium, hard, then any other label alphabetically."""
    return (DIFFICULTIES.index(difficulty), "") if difficulty in DIFFICULTIES else (len(DIFFICULTIES), difficulty)


def _prompt_note(m: dict) -> str:
    """Which prompt a model graded under several scored best, and the others' scores."""
    if not m.get("by_prompt"):
        return ""
    scores = ", ".join(f"{PROMPT_NAMES.get(p, p)} {_pct(a)}" for p, a in m["by_prompt"].items())
    return f"; the better of its prompts ({scores})"


def build_report(
    eval_metrics: dict,
    predictions: list[dict],
    generate_metrics: dict | None = None,
    gate_metrics: dict | None = None,
    timings: dict[str, float] | None = None,
    loss_curves: dict[str, list[tuple[float, float]]] | None = None,
) -> ReportData:
    """The report's content from the merged metrics/eval.json (models, `gguf` files, gap, speed),
    the graded predictions, the teacher's usage per stage, the stages' wall times (stage →
    seconds) and the training curves (curve name → (step, loss) points)."""
    rows = []
    for name, m in eval_metrics["models"].items():
        rows.append(
            {
                "model": name,
                "accuracy": m["execution_accuracy"],
                "ci95": m["ci95"],
                "n": m["n"],
                "valid": m.get("valid_rate"),
                "exact": m.get("exact_match"),
                "latency_s": m.get("mean_latency_s"),
                "detail": eval_metrics.get("model_specs", {}).get(name, "") + _prompt_note(m) + _repair_note(m),
            }
        )
    flags = [f["message"] for f in eval_metrics.get("red_flags", [])]
    by_difficulty: dict[str, dict[str, float]] = {}
    for name, m in eval_metrics["models"].items():
        for difficulty, block in m.get("by_difficulty", {}).items():
            by_difficulty.setdefault(difficulty, {})[name] = block["execution_accuracy"]
    for name, m in (eval_metrics.get("gguf") or {}).items():
        rows.append(
            {
                "model": name,
                "accuracy": m["execution_accuracy"],
                "ci95": m["ci95"],
                "n": m["n"],
                # Its speed was probed one question at a time, unlike the batched rows above.
                "detail": f"{m['bytes'] / 2**20:.0f} MiB, first answers {_pct(m['first_answer_accuracy'])} "
                f"({m['delta_vs_f16']:+.1%} vs f16), {m['tokens_per_s']} tok/s, "
                f"{m['seconds_per_answer']:.2f} s/answer one at a time" + ("; shipped" if m.get("shipped") else ""),
            }
        )
        for difficulty, block in m.get("by_difficulty", {}).items():
            by_difficulty.setdefault(difficulty, {})[name] = block["execution_accuracy"]
    usage = {}
    for stage, metrics in (("teacher_gate", gate_metrics), ("generate", generate_metrics), ("reference", eval_metrics)):
        if metrics and metrics.get("teacher_usage"):
            usage[stage] = metrics["teacher_usage"]
    return ReportData(
        task=eval_metrics.get("task", ""),
        n=eval_metrics.get("n", 0),
        rows=rows,
        by_difficulty=dict(sorted(by_difficulty.items(), key=lambda item: _difficulty_rank(item[0]))),
        red_flags=flags,
        teacher_usage=usage,
        disagreements=disagreements(predictions),
        gap=eval_metrics.get("gap"),
        speed=eval_metrics.get("speed"),
        hf_check=eval_metrics.get("hf_check"),
        timings=timings or {},
        loss_curves=loss_curves or {},
    )


def original_cost(usage: dict) -> dict:
    """What a stage's teacher answers cost when they were made: fresh calls plus the cached answers
    it replayed (their stored tokens and seconds, priced at the ledger's prices)."""
    return {
        "input_tokens": usage.get("input_tokens", 0) + usage.get("cached_input_tokens", 0),
        "output_tokens": usage.get("output_tokens", 0) + usage.get("cached_output_tokens", 0),
        "usd": usage.get("usd", 0.0) + usage.get("cached_usd", 0.0),
        "seconds": usage.get("seconds", 0.0) + usage.get("cached_seconds", 0.0),
    }


def _mib(n: int | None) -> str:
    return "–" if n is None else f"{n / 2**20:,.0f} MiB"


def opening_sentence(data: ReportData) -> str | None:
    """The report's first sentence: student, teacher and base accuracy, the gap closed, the
    student's size and speed against the teacher's, and what the teacher's data cost. None
    without a trained student."""
    accuracy = {r["model"]: r["accuracy"] for r in data.rows}
    if "student" not in accuracy:
        return None
    others = ", ".join(f"{m} {_pct(accuracy[m])}" for m in ("teacher", "base") if m in accuracy)
    out = f"The student scores {_pct(accuracy['student'])}" + (f" ({others})" if others else "")
    if data.gap and data.gap["gap_closed"] is not None:
        out += f" and closes {data.gap['gap_closed']:.2f} of the teacher-over-base gap"
    student = (data.speed or {}).get("student")
    teacher = (data.speed or {}).get("teacher")
    if student:
        out += f"; its {student['model']} answers in {student['seconds_per_answer']:.2f} s"
        if teacher:
            ratio = data.speed.get("latency_ratio")
            out += f" against the teacher's {teacher['seconds_per_answer']:.2f} s" + (
                f" ({ratio:.2f}×, one question at a time)" if ratio is not None else " (one question at a time)"
            )
        if student.get("bytes"):
            out += f", at {_mib(student['bytes'])}" + (
                f" against {_mib(teacher['bytes'])}" if teacher and teacher.get("bytes") else ""
            )
    data_usage = [u for stage, u in data.teacher_usage.items() if stage in ("teacher_gate", "generate")]
    if data_usage:
        cost = [original_cost(u) for u in data_usage]
        tokens = sum(c["input_tokens"] + c["output_tokens"] for c in cost)
        out += f"; the teacher's data cost ${sum(c['usd'] for c in cost):.4f} for {tokens:,} tokens"
    return out + "."


def hf_check_sentence(check: dict | None) -> str | None:
    """One line on the transformers fp32 check against the f16 GGUF."""
    if not check:
        return None
    return (
        f"The merged transformers fp32 student, on the first {check['n']} test questions: first answers "
        f"{_pct(check['hf_fp32'])} against the f16 GGUF's {_pct(check['gguf_f16'])}, "
        f"{check['identical_answers']:.0%} of the answers identical."
    )


def gap_sentence(gap: dict | None) -> str | None:
    """One line on the gap closed: the estimate, its CI and the deployable mark."""
    if gap is None:
        return None
    if gap["gap_closed"] is None:
        return f"Gap closed: undefined, the teacher is not above the base ({_pct(gap['base'])})."
    ci = "no reliable CI" if gap["ci95"] is None else "paired bootstrap 95% CI {:.2f}–{:.2f}".format(*gap["ci95"])
    mark = " Deployable (gap closed ≥ 0.8, student above base at the CI's lower bound)." if gap["deployable"] else ""
    return (
        f"Gap closed: {gap['gap_closed']:.2f} ({ci}) of the teacher-over-base gap, base "
        f"{_pct(gap['base'])} with its {PROMPT_NAMES.get(gap['base_prompt'], gap['base_prompt'])}; student − base "
        f"{gap['student_minus_base']:+.1%}.{mark}"
    )


def disagreements(predictions: list[dict], limit: int = DISAGREEMENTS) -> list[dict]:
    """Test questions where exactly one of student and teacher is right: the student's misses
    first (what distillation did not transfer), then its wins."""
    by_model: dict[str, dict[str, dict]] = {}
    for r in predictions:
        if r.get("split", "test") == "test":
            by_model.setdefault(r["model"], {})[r["id"]] = r
    student, teacher = by_model.get("student", {}), by_model.get("teacher", {})
    pairs = [
        (student[i], teacher[i]) for i in student if i in teacher and student[i]["correct"] != teacher[i]["correct"]
    ]
    pairs.sort(key=lambda p: p[0]["correct"])  # stable: misses first, file order within
    return [
        {
            "id": s["id"],
            "difficulty": s.get("difficulty"),
            "question": s["input"],
            "gold": s["gold"],
            "student": s["prediction"],
            "student_correct": s["correct"],
            "teacher": t["prediction"],
            "teacher_correct": t["correct"],
        }
        for s, t in pairs[:limit]
    ]


def _bar(x: float) -> str:
    filled = round(x * _BAR_WIDTH)
    return "█" * filled + "░" * (_BAR_WIDTH - filled)


def _usage_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for stage, u in data.teacher_usage.items():
        cost = original_cost(u)
        rows.append(
            [
                stage,
                str(u.get("calls", 0)),
                str(u.get("cache_hits", 0)),
                str(cost["input_tokens"]),
                str(cost["output_tokens"]),
                f"${cost['usd']:.4f}",
                f"${u.get('usd', 0.0):.4f}",
                f"{cost['seconds']:.0f}",
            ]
        )
    return rows


_USAGE_HEADER = [
    "stage",
    "calls",
    "cache hits",
    "input tokens",
    "output tokens",
    "USD",
    "USD this run",
    "request seconds",
]
_USAGE_NOTE = (
    "Tokens, USD and request seconds are what the answers cost when they were made, cached ones included; "
    "`USD this run` is only the calls this run made. Request seconds add up each call's own latency: "
    "concurrent calls overlap, so the stage's wall time (below) is shorter."
)
_MODEL_HEADER = ["model", "execution accuracy", "95% CI", "n", "valid", "exact match", "s/answer", "notes"]


def _timing_rows(data: ReportData) -> list[list[str]]:
    rows = [[stage, f"{seconds / 60:.1f}"] for stage, seconds in data.timings.items()]
    return rows + [["total", f"{sum(data.timings.values()) / 60:.1f}"]] if rows else []


def loss_svg(curves: dict[str, list[tuple[float, float]]], width: int = 480, height: int = 200) -> str:
    """The training curves as one inline SVG (loss against step, one polyline per curve), so the
    report reads without `dvc plots`. Empty when there are no points."""
    points = [p for c in curves.values() for p in c]
    if not points:
        return ""
    pad = 36
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    sx = (width - 2 * pad) / ((x1 - x0) or 1)
    sy = (height - 2 * pad) / ((y1 - y0) or 1)
    colours = ("#4a7bd0", "#d0784a", "#4ab07b")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="training and validation loss">',
        f'<rect x="{pad}" y="{pad}" width="{width - 2 * pad}" height="{height - 2 * pad}" fill="none" stroke="#ccc"/>',
        f'<text x="{pad}" y="{pad - 6}" font-size="11">loss {y1:.3f}</text>',
        f'<text x="{pad}" y="{height - pad + 14}" font-size="11">{y0:.3f} · step {x0:g}–{x1:g}</text>',
    ]
    for i, (name, curve) in enumerate(curves.items()):
        colour = colours[i % len(colours)]
        xy = " ".join(f"{pad + (x - x0) * sx:.1f},{height - pad - (y - y0) * sy:.1f}" for x, y in curve)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{xy}"/>')
        out.append(f'<text x="{width - pad - 90}" y="{pad + 14 + 14 * i}" font-size="11" fill="{colour}">{name}</text>')
    out.append("</svg>")
    return "".join(out)


def _model_cells(row: dict) -> list[str]:
    low, high = row["ci95"]
    return [
        row["model"],
        _pct(row["accuracy"]),
        f"{low:.1%}–{high:.1%}",
        str(row["n"]),
        _pct(row.get("valid")),
        _pct(row.get("exact")),
        "–" if row.get("latency_s") is None else f"{row['latency_s']:.2f}",
        row.get("detail", ""),
    ]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(data: ReportData) -> str:
    out = [f"# Distillation report: {data.task}", ""]
    if opening := opening_sentence(data):
        out += [opening, ""]
    out += [f"Test split: {data.n} questions, graded by execution.", ""]
    if data.gap:
        out += [gap_sentence(data.gap), ""]
    out += ["## Models", "", _md_table(_MODEL_HEADER, [_model_cells(r) for r in data.rows]), ""]
    out += ["## Red flags", ""]
    out += [f"- ⚠ {f}" for f in data.red_flags] or ["None."]
    out += ["", "## Accuracy by difficulty", ""]
    for difficulty, accs in data.by_difficulty.items():
        out += [f"**{difficulty}**", "", "```"]
        width = max(len(m) for m in accs)
        out += [f"{m:<{width}}  {_bar(a)} {a:6.1%}" for m, a in accs.items()]
        out += ["```", ""]
    out += ["## Teacher cost", ""]
    if data.teacher_usage:
        out += [_md_table(_USAGE_HEADER, _usage_rows(data)), "", _USAGE_NOTE, ""]
    else:
        out += ["No teacher usage recorded.", ""]
    if check := hf_check_sentence(data.hf_check):
        out += ["## Export check", "", check, ""]
    if svg := loss_svg(data.loss_curves):
        out += ["## Training and validation loss", "", svg, ""]
    if data.timings:
        out += [
            "## Stage wall times (minutes, last run of each)",
            "",
            _md_table(["stage", "minutes"], _timing_rows(data)),
            "",
        ]
    out += [f"## Where student and teacher disagree ({len(data.disagreements)})", ""]
    for d in data.disagreements:
        verdict = "teacher right, student wrong" if d["teacher_correct"] else "student right, teacher wrong"
        out += [
            f"### {d['id']} ({d['difficulty']}): {verdict}",
            "",
            f"> {d['question']}",
            "",
            "Gold:",
            f"```\n{d['gold']}\n```",
            "Student:",
            f"```\n{d['student']}\n```",
            "Teacher:",
            f"```\n{d['teacher']}\n```",
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.flag{color:#a40000}.bar{background:#4a7bd0;height:12px;display:inline-block}
.track{background:#e6e6e6;width:300px;display:inline-block;vertical-align:middle}
pre{background:#f6f6f6;padding:6px;white-space:pre-wrap}
blockquote{color:#444;border-left:3px solid #ccc;padding-left:8px}"""


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(data: ReportData) -> str:
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>distill report: {e(data.task)}</title>"]
    out += [f"<style>{_CSS}</style></head><body>", f"<h1>Distillation report: {e(data.task)}</h1>"]
    if opening := opening_sentence(data):
        out += [f"<p><strong>{e(opening)}</strong></p>"]
    out += [f"<p>Test split: {data.n} questions, graded by execution.</p>"]
    if data.gap:
        out += [f"<p>{e(gap_sentence(data.gap))}</p>"]
    out += ["<h2>Models</h2>"]
    out += [_html_table(_MODEL_HEADER, [_model_cells(r) for r in data.rows]), "<h2>Red flags</h2>"]
    out += [
        "<ul>" + "".join(f"<li class='flag'>{e(f)}</li>" for f in data.red_flags) + "</ul>"
        if data.red_flags
        else "<p>None.</p>"
    ]
    out += ["<h2>Accuracy by difficulty</h2>"]
    for difficulty, accs in data.by_difficulty.items():
        out += [f"<h3>{e(difficulty)}</h3><table>"]
        for m, a in accs.items():
            bar = f"<span class='track'><span class='bar' style='width:{a * 100:.1f}%'></span></span>"
            out += [f"<tr><td>{e(m)}</td><td>{bar}</td><td>{a:.1%}</td></tr>"]
        out += ["</table>"]
    out += ["<h2>Teacher cost</h2>"]
    out += [
        _html_table(_USAGE_HEADER, _usage_rows(data)) + f"<p>{e(_USAGE_NOTE)}</p>"
        if data.teacher_usage
        else "<p>No teacher usage recorded.</p>"
    ]
    if check := hf_check_sentence(data.hf_check):
        out += [f"<h2>Export check</h2><p>{e(check)}</p>"]
    if svg := loss_svg(data.loss_curves):
        out += ["<h2>Training and validation loss</h2>", svg]
    if data.timings:
        out += ["<h2>Stage wall times (minutes, last run of each)</h2>"]
        out += [_html_table(["stage", "minutes"], _timing_rows(data))]
    out += [f"<h2>Where student and teacher disagree ({len(data.disagreements)})</h2>"]
    for d in data.disagreements:
        verdict = "teacher right, student wrong" if d["teacher_correct"] else "student right, teacher wrong"
        out += [
            f"<h3>{e(d['id'])} ({e(str(d['difficulty']))}): {verdict}</h3><blockquote>{e(d['question'])}</blockquote>",
            f"<p>Gold:</p><pre>{e(d['gold'])}</pre><p>Student:</p><pre>{e(d['student'])}</pre>",
            f"<p>Teacher:</p><pre>{e(d['teacher'])}</pre>",
        ]
    out += ["</body></html>"]
    return "\n".join(out) + "\n"


def accuracy_plot_rows(data: ReportData) -> list[dict]:
    """Rows for `dvc plots` bar charts: one per model or exported file."""
    return [{"model": r["model"], "execution_accuracy": r["accuracy"]} for r in data.rows]
