"""The schema of what evaluation writes: one graded answer (`Prediction`, a line of
data/eval/*predictions.jsonl) and the metrics files (metrics/eval.json, metrics/teacher_gate.json),
as lm-evaluation-harness types its results.

They are TypedDicts, not classes: the records are JSON rows that the stages extend (`prompt`,
`split`, `sample`), write and read back, and the files' bytes must not change with their types.
`tests/test_pipeline_e2e.py` holds real outputs against these schemas (`schema_problems`).
"""

from __future__ import annotations

import types
import typing
from typing import NotRequired, TypedDict


class Prediction(TypedDict):
    """One graded answer (`harness.grade`), extended by evaluation with its prompt and split."""

    model: str
    """base, teacher, student, or an exported GGUF's file name."""
    id: str
    difficulty: str
    input: str
    gold: str
    raw_output: str
    """The model's text as generated (the last turn's, after repairs)."""
    prediction: str
    """What was extracted from it and graded."""
    correct: bool
    """Execution-based: same result as the gold (text2sql) or the tests pass (code)."""
    valid: bool
    exact_match: bool
    error: str | None
    latency_s: float | None
    repairs: int
    """Repair turns the answer took (0: the first answer is final)."""
    first_output: str | None
    prompt: NotRequired[str]
    """few_shot or zero_shot."""
    split: NotRequired[str]
    """A benchmark set's name; absent for the test split."""
    sample: NotRequired[int]
    """The sample index, with evaluate.samples > 1."""


class Accuracy(TypedDict):
    execution_accuracy: float
    ci95: list[float]
    """Wilson 95% interval."""
    n: int
    correct: int


class ModelMetrics(TypedDict):
    """One model's entry in metrics/eval.json `models` (`metrics.summarize_samples`)."""

    execution_accuracy: float
    ci95: list[float]
    n: int
    correct: int
    valid_rate: float
    exact_match: float
    by_difficulty: dict[str, Accuracy]
    pass_at_k: dict[str, float]
    prompt: str
    first_answer: NotRequired[Accuracy]
    repaired: NotRequired[int]
    repaired_correct: NotRequired[int]
    mean_latency_s: NotRequired[float]
    samples: NotRequired[int]
    by_prompt: NotRequired[dict[str, float]]
    benchmarks: NotRequired[dict[str, dict]]
    gguf: NotRequired[str]
    first_answer_greedy: NotRequired[float]


class RedFlag(TypedDict):
    flag: str
    message: str
    file: NotRequired[str]


class Latency(TypedDict):
    """One model answering one question at a time, warm (`speed.gguf_latency`)."""

    tokens_per_s: float
    seconds_per_answer: float
    tokens: int
    n: int
    bytes: int | None
    model: NotRequired[str]


class SpeedComparison(TypedDict):
    teacher: Latency | None
    student: Latency | None
    latency_ratio: float | None
    """student / teacher seconds per answer; None when either is unmeasured (an API teacher)."""


class GGUFFile(TypedDict):
    """One exported GGUF graded on the test split (metrics/eval.json `gguf`)."""

    type: str
    bytes: int
    execution_accuracy: float
    ci95: list[float]
    n: int
    first_answer_accuracy: float
    tokens_per_s: float
    seconds_per_answer: float
    by_difficulty: dict[str, Accuracy]
    shipped: bool
    delta_vs_f16: float
    flagged: bool
    first_answer: NotRequired[Accuracy]
    repaired: NotRequired[int]
    repaired_correct: NotRequired[int]


class HFCheck(TypedDict):
    n: int
    hf_fp32: float
    gguf_f16: float
    identical_answers: float


class Gap(TypedDict):
    """The gap closed and its paired-bootstrap interval (`gap.gap_report`)."""

    gap_closed: float | None
    ci95: list[float | None]
    undefined_resamples: float
    base_prompt: str
    base: float
    student_minus_base: float
    student_minus_base_ci95: list[float]
    deployable: bool
    resamples: int
    flags: list[RedFlag]


class EvalMetrics(TypedDict):
    """metrics/eval.json (`run.merge_results`)."""

    task: str
    split: str
    n: int
    models: dict[str, ModelMetrics]
    model_specs: dict[str, str]
    teacher_usage: dict | None
    """The teacher's cost ledger summary (teachers/ledger.py)."""
    red_flags: list[RedFlag]
    gguf: NotRequired[dict[str, GGUFFile]]
    hf_check: NotRequired[HFCheck | None]
    speed: NotRequired[SpeedComparison]
    gap: NotRequired[Gap]


class GateFailure(TypedDict):
    id: str
    difficulty: str
    input: str
    gold: str
    prediction: str
    error: str | None
    repairs: int


# Functional syntax: `pass`, the file's key, is a Python keyword.
GateMetrics = TypedDict(
    "GateMetrics",
    {
        "teacher": str,
        "split": str,
        "execution_accuracy": float,
        "ci95": list[float],
        "n": int,
        "correct": int,
        "valid_rate": float,
        "by_difficulty": dict[str, Accuracy],
        "first_answer": NotRequired[Accuracy],
        "repaired": NotRequired[int],
        "repaired_correct": NotRequired[int],
        "min_accuracy": float,
        "pass": bool,
        "teacher_usage": dict,
        "failures": list[GateFailure],
    },
)
"""metrics/teacher_gate.json (`gate.run_gate`)."""


def schema_problems(value, schema, where: str = "") -> list[str]:
    """Where `value` (parsed JSON) departs from `schema` (one of the TypedDicts above, or a type
    built of them): missing required keys and unknown keys, recursively. Values are checked only
    as far as their nesting goes; scalar types are not policed. Empty = it fits."""
    origin = typing.get_origin(schema)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(schema) if a is not type(None)]
        if value is None or not options:
            return []
        return min((schema_problems(value, a, where) for a in options), key=len)
    if origin in (typing.NotRequired, typing.Required):
        return schema_problems(value, typing.get_args(schema)[0], where)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(schema) or (None,)
        return [p for i, v in enumerate(value) for p in schema_problems(v, item, f"{where}[{i}]")] if item else []
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(schema)
        return [p for k, v in value.items() for p in schema_problems(v, args[1], f"{where}.{k}")] if args else []
    if typing.is_typeddict(schema):
        if not isinstance(value, dict):
            return [f"{where or '.'}: expected an object, got {type(value).__name__}"]
        # Read NotRequired off the hints: under `from __future__ import annotations` the class's
        # own __required_keys__ cannot see it.
        hints = typing.get_type_hints(schema, include_extras=True)
        required = {k for k, h in hints.items() if typing.get_origin(h) is not typing.NotRequired}
        problems = [f"{where}.{k}: missing" for k in sorted(required - value.keys())]
        problems += [f"{where}.{k}: not in {schema.__name__}" for k in sorted(value.keys() - hints.keys())]
        for key in value.keys() & hints.keys():
            problems += schema_problems(value[key], hints[key], f"{where}.{key}")
        return problems
    return []
