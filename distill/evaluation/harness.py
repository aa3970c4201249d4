"""One harness for every model: the same prompts, the same extraction, the same grading."""

from __future__ import annotations

from dataclasses import dataclass

from tqdm.auto import tqdm

from distill.config import EvaluateConfig
from distill.evaluation.records import Prediction
from distill.examples import Example
from distill.inference.base import ChatModel, Generation
from distill.tasks.base import Grading


@dataclass(frozen=True)
class ModelAnswer:
    text: str
    """The final answer: the first, or the reply to the last repair turn."""
    seconds: float
    """Wall time over every turn."""
    repairs: int = 0
    """Repair turns it took (0 = the first answer is final)."""
    first_text: str | None = None
    """The first answer, when it was sent back."""


@dataclass(frozen=True)
class Repair:
    """How an answer that cannot run goes back to the model: up to `turns` times, sampled at
    `temperature` (0 = greedy)."""

    turns: int = 0
    temperature: float = 0.0

    @classmethod
    def of(cls, ev: EvaluateConfig) -> Repair:
        """`evaluate.repair_turns` and `evaluate.repair_temperature`."""
        return cls(ev.repair_turns, ev.repair_temperature)


NO_REPAIR = Repair()


def sampling_kwargs(temperature: float, seed: int) -> dict:
    """`ChatModel.generate` keyword arguments: greedy at temperature 0, else a sample seeded by `seed`."""
    return {"temperature": temperature, "sample_index": seed} if temperature > 0 else {}


def _generate(
    model: ChatModel, conversations: list[list[dict]], desc: str, progress: bool, **sampling
) -> list[Generation]:
    out: list[Generation] = []
    with tqdm(total=len(conversations), desc=desc, unit="q", disable=not progress) as bar:
        for start in range(0, len(conversations), model.batch_size):
            batch = conversations[start : start + model.batch_size]
            out.extend(model.generate(batch, **sampling))
            bar.update(len(batch))
    return out


def generate_answers(
    model: ChatModel,
    task: Grading,
    examples: list[Example],
    sample_index: int = 0,
    temperature: float = 0.0,
    repair: Repair = NO_REPAIR,
    progress: bool = True,
    few_shot: bool = True,
) -> list[ModelAnswer]:
    """Run `model` on every example's task prompt, in batches, with a progress bar: greedy, or
    with temperature > 0 the `sample_index`-th sampled answer (for pass@k). `few_shot` False
    gives the student prompt (`Task.student_messages`: no worked examples).

    Up to `repair.turns` times, an answer that cannot run goes back to the model with the task's
    description of the problem, found without the gold (an SQLite error, a syntax error), and
    its reply replaces it: what a user running the answer would do. Repair turns sample at
    `repair.temperature`, seeded by the turn, so they are reproducible.
    """
    conversations = [task.prompt(ex, few_shot=few_shot) for ex in examples]
    first = _generate(
        model, conversations, f"evaluate {model.name}", progress, **sampling_kwargs(temperature, sample_index)
    )
    texts = [g.text for g in first]
    seconds = [g.seconds for g in first]
    repairs = [0] * len(examples)
    pending = list(range(len(examples)))  # answers not yet known to run
    for turn in range(1, repair.turns + 1):
        problems = {i: p for i in pending if (p := task.answer_problem(texts[i], examples[i]))}
        if not problems:
            break
        pending = list(problems)
        for i, problem in problems.items():
            conversations[i] = task.repair_messages(conversations[i], texts[i], problem)
        replies = _generate(
            model,
            [conversations[i] for i in pending],
            f"repair {model.name} (turn {turn})",
            progress,
            **sampling_kwargs(repair.temperature, sample_index + turn),
        )
        for i, reply in zip(pending, replies, strict=True):
            texts[i], seconds[i], repairs[i] = reply.text, seconds[i] + reply.seconds, turn
    return [
        ModelAnswer(text, secs, n, first[i].text if n else None)
        for i, (text, secs, n) in enumerate(zip(texts, seconds, repairs, strict=True))
    ]


def grade(
    task: Grading,
    examples: list[Example],
    texts: list[str],
    model_name: str,
    latencies: list[float | None] | None = None,
) -> list[Prediction]:
    """Grade model texts against the examples; one prediction record per example."""
    if len(texts) != len(examples):
        raise ValueError(f"{model_name}: {len(texts)} predictions for {len(examples)} examples")
    latencies = latencies or [None] * len(examples)
    records = []
    for example, text, latency in zip(examples, texts, latencies, strict=True):
        score = task.score(text, example)
        records.append(
            {
                "model": model_name,
                "id": example.id,
                "difficulty": example.difficulty,
                "input": example.input,
                "gold": example.output,
                "raw_output": text,
                "prediction": score.prediction,
                "correct": score.correct,
                "valid": score.valid,
                "exact_match": score.exact_match,
                "error": score.error,
                "latency_s": None if latency is None else round(latency, 4),
            }
        )
    return records


def evaluate_model(
    model: ChatModel,
    task: Grading,
    examples: list[Example],
    samples: int = 1,
    temperature: float = 0.0,
    repair: Repair = NO_REPAIR,
    few_shot: bool = True,
) -> list[Prediction]:
    """Graded records: one per example, or with samples > 1 one per sampled answer (`sample` says
    which). `repairs` counts the repair turns an answer took, and `first_output` keeps the first
    answer when there were any. `few_shot` False: the student prompt (a trained student)."""
    records = []
    for i in range(samples):
        answers = generate_answers(
            model,
            task,
            examples,
            sample_index=i,
            temperature=temperature if samples > 1 else 0.0,
            repair=repair,
            few_shot=few_shot,
        )
        graded = grade(task, examples, [a.text for a in answers], model.name, [a.seconds for a in answers])
        graded = [
            {**r, "repairs": a.repairs, "first_output": a.first_text} for r, a in zip(graded, answers, strict=True)
        ]
        records += [{**r, "sample": i} for r in graded] if samples > 1 else graded
    return records
