"""Evaluate the configured models on the prepared test split."""

from __future__ import annotations

import gc
from pathlib import Path

from distill.config import Params
from distill.evaluation.gap import gap_report
from distill.evaluation.harness import Repair, evaluate_model
from distill.evaluation.metrics import red_flags, summarize_samples
from distill.examples import Example, read_examples
from distill.inference.hf import HFChat
from distill.models import ModelError, resolve_hf
from distill.preparation import RESOURCES, TEST
from distill.tasks import make_task
from distill.tasks.base import Task
from distill.teachers import make_client
from distill.teachers.chat import TeacherChat


def _resolved(key: str, resolve, spec: str):
    try:
        return resolve(spec)
    except ModelError as e:
        raise ModelError(f"params.yaml: {key}: {e}") from None


def _model_builders(params: Params, teacher_cache: Path, student_dir: Path | None) -> dict:
    """Model name in metrics -> a function that loads it (loaded one at a time to bound memory).

    Every model answers with the same settings (greedy first answers, the same repair turn and
    answer-length cap), so only the model differs. The
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


def model_prompts(task: Task, examples: list[Example]) -> dict[str, tuple[str, ...]]:
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
    prompt: str, model, task: Task, examples: list[Example], benchmarks: dict, sampling: dict
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


def test_examples(params: Params, prepared_dir: Path) -> list[Example]:
    """The test questions every evaluation runs on: the first `evaluate.limit` (0 = all)."""
    examples = read_examples(Path(prepared_dir) / TEST)
    return examples[: params.evaluate.limit] if params.evaluate.limit else examples


def evaluate_models(
    params: Params, prepared_dir: Path, teacher_cache: Path, student_dir: Path | None = None
) -> tuple[dict, list[dict]]:
    """Run every model on the test split and the task's benchmarks (each cut to `evaluate.limit`);
    returns (metrics, prediction records)."""
    examples = test_examples(params, prepared_dir)
    task = make_task(params.task, Path(prepared_dir) / RESOURCES)
    ev = params.evaluate
    # One greedy answer per question unless pass@k asks for samples.
    sampling = {"samples": ev.samples, "temperature": ev.temperature} if ev.samples > 1 else {}
    sampling["repair"] = Repair.of(ev)  # the same repair turn for every model
    records: list[dict] = []
    models = {}
    teacher_usage = None
    try:
        benchmarks = task.benchmark_sets(ev.limit)
        builders = _model_builders(params, teacher_cache, student_dir)
        prompts = model_prompts(task, examples)
        for name, build in builders.items():
            model = build()
            try:
                # prompt -> (test-split records, benchmark -> records)
                graded = {p: _grade_under(p, model, task, examples, benchmarks, sampling) for p in prompts[name]}
                if isinstance(model, TeacherChat):
                    teacher_usage = model.client.ledger.summary()
            finally:
                if hasattr(model, "close"):
                    model.close()
                del model
                gc.collect()
            summaries = {prompt: summarize_samples(recs, ev.pass_k) for prompt, (recs, _) in graded.items()}
            # The better prompt by final execution accuracy; the first listed on a tie.
            best = max(summaries, key=lambda p: summaries[p]["execution_accuracy"])
            models[name] = {**summaries[best], "prompt": best}
            if len(summaries) > 1:
                models[name]["by_prompt"] = {p: s["execution_accuracy"] for p, s in summaries.items()}
            for recs, bench_records in graded.values():
                records += recs + [r for rs in bench_records.values() for r in rs]
            if graded[best][1]:
                models[name]["benchmarks"] = {b: summarize_samples(r, ev.pass_k) for b, r in graded[best][1].items()}
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
    add_gap(metrics, records, examples)
    return metrics, records


def add_gap(metrics: dict, records: list[dict], examples: list[Example]) -> None:
    """Put the gap closed (`gap_report`) into `metrics` as `gap`, its flags among the red flags,
    when the student, the teacher and the base were all graded."""
    if not {"student", "teacher", "base"} <= metrics["models"].keys():
        return
    base = metrics["models"]["base"]
    base_prompts = list(base.get("by_prompt") or [base["prompt"]])
    gap = gap_report(
        student=per_question(records, "student", examples),
        teacher=per_question(records, "teacher", examples),
        bases={prompt: per_question(records, "base", examples, prompt) for prompt in base_prompts},
    )
    metrics["gap"] = gap
    metrics["red_flags"] = metrics["red_flags"] + gap["flags"]


def per_question(records: list[dict], model: str, examples: list[Example], prompt: str | None = None) -> list[float]:
    """A model's share of correct answers per test question (1 or 0 for one greedy answer), in
    `examples` order, under `prompt` if given (a record's `prompt`): the paired outcomes
    `gap_report` resamples. Raises ValueError for a question the model has no test-split answer
    to."""
    answers: dict[str, list[bool]] = {e.id: [] for e in examples}
    for r in records:
        if r["model"] != model or r.get("split", "test") != "test":  # not a benchmark set
            continue
        if prompt is None or r.get("prompt") == prompt:
            answers[r["id"]].append(r["correct"])
    missing = [i for i, v in answers.items() if not v]
    if missing:
        raise ValueError(f"{model} has no graded answer to test question {missing[0]} ({len(missing)} missing)")
    return [sum(v) / len(v) for v in answers.values()]
