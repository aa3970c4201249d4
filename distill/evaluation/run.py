"""Grade ready-made models on the prepared test split, and merge what the stages graded.

The reference stage grades the base and the teacher, the evaluate stage the exported student; the
report stage merges both into metrics/eval.json (`merge_results`), with the gap closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from distill.config import EvaluateConfig
from distill.evaluation.gap import gap_report
from distill.evaluation.harness import Repair, evaluate_model
from distill.evaluation.metrics import red_flags, summarize_samples
from distill.evaluation.records import EvalMetrics, Latency, ModelMetrics, Prediction, SpeedComparison
from distill.examples import Example, read_examples
from distill.inference.base import ChatModel
from distill.io import DataError
from distill.layouts import TEST
from distill.tasks.base import Grading

MODEL_ORDER = ("student", "teacher", "base")
"""How the merged metrics list the models."""


def model_prompts(task: Grading, examples: list[Example]) -> dict[str, tuple[str, ...]]:
    """The prompts each model is graded under: the teacher its few-shot prompt, a trained student
    the student prompt (`zero_shot`: no worked examples, as it was trained), and the base both,
    so its reported score is its better one. Where the task has no worked examples the two
    prompts are the same and the base is graded once. Worked examples are per database, so any
    question whose two prompts differ counts."""
    differ = any(task.messages(e) != task.student_messages(e) for e in examples)
    return {
        "base": ("few_shot", "zero_shot") if differ else ("few_shot",),
        "student": ("zero_shot",),
        "teacher": ("few_shot",),
    }


def _grade_under(
    prompt: str, model: ChatModel, task: Grading, examples: list[Example], benchmarks: dict, sampling: dict
) -> tuple[list[dict], dict[str, list[dict]]]:
    """`model`'s graded records under `prompt` (`few_shot` or `zero_shot`): on the test split,
    and per benchmark set; each record says its prompt."""
    few_shot = prompt == "few_shot"
    test = [{**r, "prompt": prompt} for r in evaluate_model(model, task, examples, few_shot=few_shot, **sampling)]
    by_benchmark = {
        bench: [
            {**r, "split": bench, "prompt": prompt}
            for r in evaluate_model(model, task, problems, few_shot=few_shot, **sampling)
        ]
        for bench, problems in benchmarks.items()
    }
    return test, by_benchmark


def test_examples(config: EvaluateConfig, prepared_dir: Path) -> list[Example]:
    """The test questions every evaluation runs on: the first `evaluate.limit` (0 = all)."""
    examples = read_examples(Path(prepared_dir) / TEST)
    return examples[: config.limit] if config.limit else examples


def grading_sampling(config: EvaluateConfig) -> dict:
    """`evaluate_model` keywords every model is graded with: one greedy answer per question
    unless pass@k asks for samples, and the same repair turn."""
    sampling = {"samples": config.samples, "temperature": config.temperature} if config.samples > 1 else {}
    return {**sampling, "repair": Repair.of(config)}


def grade_model(
    model: ChatModel,
    prompts: tuple[str, ...],
    task: Grading,
    examples: list[Example],
    config: EvaluateConfig,
    benchmarks: dict[str, list[Example]] | None = None,
) -> tuple[ModelMetrics, list[Prediction]]:
    """Grade `model` under each of `prompts` on `examples` (and the task's `benchmarks`); returns
    (its metrics entry, its graded records). The entry is the better prompt's summary by final
    execution accuracy (the first listed on a tie), with `prompt`, `by_prompt` when there were
    several, and `benchmarks` when there are any."""
    sampling = grading_sampling(config)
    graded = {p: _grade_under(p, model, task, examples, benchmarks or {}, sampling) for p in prompts}
    summaries = {prompt: summarize_samples(recs, config.pass_k) for prompt, (recs, _) in graded.items()}
    best = max(summaries, key=lambda p: summaries[p]["execution_accuracy"])
    entry = {**summaries[best], "prompt": best}
    if len(summaries) > 1:
        entry["by_prompt"] = {p: s["execution_accuracy"] for p, s in summaries.items()}
    if graded[best][1]:
        entry["benchmarks"] = {b: summarize_samples(r, config.pass_k) for b, r in graded[best][1].items()}
    records = [r for recs, bench in graded.values() for r in recs + [x for rs in bench.values() for x in rs]]
    return entry, records


def evaluate_models(
    models: Iterable[tuple[str, ChatModel]],
    task: Grading,
    examples: list[Example],
    config: EvaluateConfig,
) -> tuple[dict[str, ModelMetrics], list[Prediction], dict[str, dict]]:
    """Grade each of `models`, (name, model) pairs named base, teacher or student, in turn under
    its `model_prompts` on `examples` and the task's benchmark sets (cut to `evaluate.limit`).
    The caller builds the models and closes them; a generator that builds each one and closes it
    when the next is asked for keeps one model in memory at a time (stages/reference.py).
    Returns (name → metrics entry, graded records, name → usage for the models that meter it: a
    teacher's cost ledger)."""
    benchmarks = task.benchmark_sets(config.limit)
    prompts = model_prompts(task, examples)
    entries, records, usage = {}, [], {}
    for name, model in models:
        entries[name], graded = grade_model(model, prompts[name], task, examples, config, benchmarks)
        records += graded
        if (metered := model.usage()) is not None:
            usage[name] = metered
    return entries, records, usage


def merge_results(reference: dict, student: dict | None, records: list[dict], ids: list[str]) -> EvalMetrics:
    """metrics/eval.json from the reference stage's results (base and teacher) and the evaluate
    stage's (the exported student; None when there is none): the models, red flags, and the gap
    closed with its CI (`add_gap`) over the test questions `ids`, in order. Raises DataError when
    the two stages graded different numbers of questions (another `evaluate.limit`)."""
    if student and student["n"] != reference["n"]:
        raise DataError(
            f"the reference stage graded {reference['n']} test questions and evaluate {student['n']}: "
            "run `dvc repro` so both use the same evaluate.limit"
        )
    models = {**reference["models"], **(student["models"] if student else {})}
    metrics = {
        "task": reference["task"],
        "split": "test",
        "n": reference["n"],
        "models": {name: models[name] for name in MODEL_ORDER if name in models},
        "model_specs": {**reference["model_specs"], **(student["model_specs"] if student else {})},
        "teacher_usage": reference.get("teacher_usage"),
        "red_flags": red_flags(models),
    }
    if student:
        metrics["gguf"] = student["files"]
        metrics["hf_check"] = student.get("hf_check")
        metrics["red_flags"] += student["red_flags"]
        metrics["speed"] = speed_comparison(reference.get("teacher_speed"), student.get("speed"))
    add_gap(metrics, records, ids)
    return metrics


def speed_comparison(teacher: Latency | None, student: Latency | None) -> SpeedComparison:
    """Latency per answer, one question at a time and warm, of the student (the GGUF the Modelfile
    ships) against the teacher; `latency_ratio` is student / teacher (None when either is
    unmeasured, as for an API teacher)."""
    ratio = None
    if teacher and student and teacher.get("seconds_per_answer"):
        ratio = round(student["seconds_per_answer"] / teacher["seconds_per_answer"], 3)
    return {"teacher": teacher, "student": student, "latency_ratio": ratio}


def add_gap(metrics: dict, records: list[dict], ids: list[str]) -> None:
    """Put the gap closed (`gap_report`) into `metrics` as `gap`, its flags among the red flags,
    when the student, the teacher and the base were all graded."""
    if not {"student", "teacher", "base"} <= metrics["models"].keys():
        return
    base = metrics["models"]["base"]
    base_prompts = list(base.get("by_prompt") or [base["prompt"]])
    gap = gap_report(
        student=per_question(records, "student", ids),
        teacher=per_question(records, "teacher", ids),
        bases={prompt: per_question(records, "base", ids, prompt) for prompt in base_prompts},
    )
    metrics["gap"] = gap
    metrics["red_flags"] = metrics["red_flags"] + gap["flags"]


def per_question(records: list[dict], model: str, ids: list[str], prompt: str | None = None) -> list[float]:
    """A model's share of correct answers per test question (1 or 0 for one greedy answer), in
    `ids` order, under `prompt` if given (a record's `prompt`): the paired outcomes `gap_report`
    resamples. Raises ValueError for a question the model has no test-split answer to."""
    answers: dict[str, list[bool]] = {i: [] for i in ids}
    for r in records:
        if r["model"] != model or r.get("split", "test") != "test":  # not a benchmark set
            continue
        if r["id"] in answers and (prompt is None or r.get("prompt") == prompt):
            answers[r["id"]].append(r["correct"])
    missing = [i for i, v in answers.items() if not v]
    if missing:
        raise ValueError(f"{model} has no graded answer to test question {missing[0]} ({len(missing)} missing)")
    return [sum(v) / len(v) for v in answers.values()]
