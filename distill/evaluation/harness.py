"""One harness for every model: the same prompts, the same extraction, the same grading."""

from __future__ import annotations

from tqdm.auto import tqdm

from distill.examples import Example
from distill.inference.base import ChatModel, Generation
from distill.tasks.base import Task


def generate_answers(
    model: ChatModel, task: Task, examples: list[Example], sample_index: int = 0, temperature: float = 0.0
) -> list[Generation]:
    """Run `model` on every example's task prompt, in batches, with a progress bar: greedy, or
    with temperature > 0 the `sample_index`-th sampled answer (for pass@k)."""
    sampling = {"temperature": temperature, "sample_index": sample_index} if temperature > 0 else {}
    out: list[Generation] = []
    with tqdm(total=len(examples), desc=f"evaluate {model.name}", unit="q") as bar:
        for start in range(0, len(examples), model.batch_size):
            batch = examples[start : start + model.batch_size]
            out.extend(model.generate([task.messages(ex) for ex in batch], **sampling))
            bar.update(len(batch))
    return out


def grade(
    task: Task, examples: list[Example], texts: list[str], model_name: str, latencies: list[float | None] | None = None
) -> list[dict]:
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
    model: ChatModel, task: Task, examples: list[Example], samples: int = 1, temperature: float = 0.0
) -> list[dict]:
    """Graded records: one per example, or with samples > 1 one per sampled answer (`sample` says which)."""
    if samples == 1:
        answers = generate_answers(model, task, examples)
        return grade(task, examples, [a.text for a in answers], model.name, [a.seconds for a in answers])
    records = []
    for i in range(samples):
        answers = generate_answers(model, task, examples, sample_index=i, temperature=temperature)
        graded = grade(task, examples, [a.text for a in answers], model.name, [a.seconds for a in answers])
        records += [{**r, "sample": i} for r in graded]
    return records
