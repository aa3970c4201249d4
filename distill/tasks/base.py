"""The Task interface: everything that differs between text2sql and code lives behind it.

A task owns its prompt format, output extraction, validation, execution-based scoring and the
resources it needs (databases, test harnesses). Stages only call these methods, so adding a task
touches its own module and never a stage.
"""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

from distill.config import TaskConfig
from distill.examples import Example


def json_objects(text: str) -> list[dict]:
    """Every JSON object in model text, wherever it starts (fences, prose and line breaks ignored):
    small teachers wrap, split and annotate the JSON they are asked for."""
    decoder = json.JSONDecoder()
    found, i = [], 0
    while (i := text.find("{", i)) != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i += 1
            continue
        if isinstance(obj, dict):
            found.append(obj)
        i = end
    return found


@dataclass(frozen=True)
class Score:
    prediction: str
    """What was extracted from the model's text and graded."""
    correct: bool
    """Execution-based: same result as the gold (text2sql) or tests pass (code)."""
    valid: bool
    """Well-formed for the task: parses, refers only to things that exist, and runs."""
    exact_match: bool
    """Normalized textual equality with the gold output."""
    error: str | None = None
    """Why it is invalid or could not run, if so."""


@dataclass(frozen=True)
class Problem:
    """Why an example cannot be trained on (or an answer cannot run): a stable reason code for
    metrics and rejection records, and the detail a person or a model reads."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Structure:
    """What an answer is made of, for difficulty and diversity: derived from the answer itself,
    never from the teacher's claim."""

    skeleton: str
    """The answer with its literals replaced by `?`, in a canonical rendering."""
    sources: frozenset[str]
    """Tables (text2sql) the answer reads."""
    fields: frozenset[str]
    """`table.column` names the answer reads."""
    difficulty: str
    """easy | medium | hard, from the answer's structure."""


class Grading(ABC):
    """What evaluation, training and export call: the prompts, answer extraction, execution-based
    grading and the repair turn."""

    name: str

    @abstractmethod
    def messages(self, example: Example, few_shot: bool = True) -> list[dict]:
        """Chat messages for the model: a task system prompt first (a stable, cacheable prefix),
        then the task's worked examples as earlier turns (unless `few_shot` is False, or the task
        has none), then the question. The teacher and the base get the few-shot prompt."""

    def student_messages(self, example: Example) -> list[dict]:
        """The prompt a trained student sees, in training, evaluation, export, `serve` and `ask`:
        the system rules and the context (the schema) without worked examples. The student learns
        the task from its training data, and each prompt is shorter by the examples."""
        return self.messages(example, few_shot=False)

    def prompt(self, example: Example, *, few_shot: bool) -> list[dict]:
        """The few-shot prompt (teacher, base) or the student's: the one way every caller picks."""
        return self.messages(example) if few_shot else self.student_messages(example)

    @abstractmethod
    def extract(self, text: str, example: Example | None = None) -> str:
        """Pull the answer (SQL, code) out of free model text. With `example`, the task may use
        its resources (the database) to choose between several candidate answers in the text."""

    @abstractmethod
    def score(self, text: str, example: Example) -> Score:
        """Extract, validate and grade a model's text against the example's gold output."""

    @abstractmethod
    def answer_outcome(self, output: str, example: Example) -> Hashable | None:
        """What executing `output` for `example` yields (a query's rows, the values a function
        returned on its tests), so answers can be compared by behaviour rather than text; None when
        it does not run."""

    def same_outcome(self, reference, candidate) -> bool:
        """The task's one equality rule between two outcomes, `reference` in the gold's place. It
        serves grading, the self-consistency vote and every agreement check in generation.
        Default: equality."""
        return reference == candidate

    def outcomes_agree(self, a, b) -> bool:
        """The same rule between two answers, neither of them the gold (the self-consistency
        vote): symmetric, so the vote does not depend on the order of the samples. Default:
        `same_outcome`."""
        return self.same_outcome(a, b)

    repair_request: str = "That answer does not work: {problem}\nReply with the corrected answer only."
    """The user turn that sends an answer's problem back to the model (see `repair_messages`)."""

    def answer_problem(self, text: str, example: Example) -> str | None:
        """Why the answer in `text` cannot run, found without the gold output (nothing extracted,
        it does not parse, it fails to execute), worded for the model; None when it runs. Default:
        the task cannot tell, so no answer is sent back."""
        return None

    def repair_messages(self, conversation: list[dict], text: str, problem: str) -> list[dict]:
        """`conversation` continued with the model's answer and a request to fix `problem`: the
        prompt prefix stays the same, so runtimes reuse its cache."""
        request = self.repair_request.format(problem=problem)
        return [*conversation, {"role": "assistant", "content": text}, {"role": "user", "content": request}]

    def benchmark_sets(self, limit: int = 0) -> dict[str, list[Example]]:
        """Public benchmarks evaluated beside the test split, by name (at most `limit` examples
        each; 0 = all). Default: none."""
        return {}

    def show_answer(self, output: str, example: Example) -> str:
        """What `python -m distill ask` prints under the extracted answer (the SQL's rows, a
        test run). Default: nothing more."""
        return ""


class Checking(ABC):
    """What preparation and validation call beyond grading: resources, seed checks, fitness for
    training, and the forms answers are compared and stored in."""

    @abstractmethod
    def build_resources(self, source_dir: Path, out_dir: Path) -> dict:
        """Build what scoring needs (for example SQLite files) from `source_dir` into `out_dir`.

        Returns a small JSON-able summary for metrics. Raises DataError naming file:line.
        """

    @abstractmethod
    def check_example(self, example: Example, where: str) -> None:
        """Raise DataError naming `where` if the example's gold output is unusable."""

    @abstractmethod
    def problems(self, example: Example) -> list[Problem]:
        """Everything that makes a synthetic example unfit for training (empty = fit)."""

    @abstractmethod
    def normalize_output(self, output: str) -> str:
        """A canonical form of an answer, for duplicate and leakage checks."""

    def canonical_output(self, output: str, example: Example) -> str:
        """The form a validated answer is stored in for training (same behaviour, house style).
        Default: as written."""
        return output

    def structure(self, output: str, example: Example) -> Structure | None:
        """The answer's structure (skeleton, what it reads, difficulty); None when the task has no
        such notion or the answer does not parse. Default: None."""
        return None

    def context(self, example: Example) -> str:
        """What the example's answer is relative to, as a name (text2sql: its database): two
        questions are the same question, and an answer leaks a test answer, only within one
        context. Default: "" (every example stands alone)."""
        return ""

    def schema_sources(self, example: Example) -> frozenset[str]:
        """Every table (text2sql) the example's resources offer, for coverage. Default: none."""
        return frozenset()


class Synthesis(ABC):
    """What generation calls, beyond grading and checking, to make new examples: the kinds it can
    prompt for, the proposal prompts and their parsing, the checks before paying for answers, and
    the preference among agreeing answers."""

    generation_kinds: tuple[str, ...] = ()
    """The synthetic-data kinds this task can prompt for (see `proposal_messages`); each task
    module derives them from its prompts."""

    one_seed_kinds: tuple[str, ...] = ()
    """Kinds that rework one seed (a paraphrase); the others are shown a few seeds."""
    question_only_kinds: tuple[str, ...] = ()
    """Kinds whose candidates come without a proposed answer, so a vote labels them."""

    def pick_seeds(self, kind: str, pool: list[Example], rng: random.Random) -> list[Example]:
        """The seeds one proposal call shows the teacher: one for `one_seed_kinds`, else a few."""
        if kind in self.one_seed_kinds:
            return [rng.choice(pool)]
        return rng.sample(pool, min(4, len(pool)))

    @abstractmethod
    def proposal_messages(self, kind: str, seeds: list[Example], count: int) -> list[dict]:
        """The teacher prompt asking for `count` new candidates of `kind`, built from `seeds`."""

    @abstractmethod
    def parse_proposals(self, text: str, kind: str, seeds: list[Example], workspace: Path) -> list[Example]:
        """Candidates from a proposal response. `output` is the proposed answer, or "" when the kind
        asks for questions only. Resources a candidate needs (a new database) go in `workspace`."""

    def precheck(self, candidate: Example) -> Problem | None:
        """Why a proposed candidate is not worth paying the teacher to answer, by fixed rules: its
        proposed answer does not parse, is unsafe, names things that do not exist, or can never
        pass validation. None = answer it. Default: nothing is checked."""
        return None

    def rank(self, output: str, example: Example) -> tuple:
        """Preference among answers that agree on behaviour (higher wins; ties go to the most
        frequent text, then the first). Default: no preference."""
        return ()


class Task(Grading, Checking, Synthesis):
    """One task (text2sql, code) behind the three interfaces its callers use; built by
    `distill.tasks.make_task` and used as a context manager, which closes its resources."""

    @classmethod
    @abstractmethod
    def from_config(cls, config: TaskConfig, resources_dir: Path, extra_dirs: tuple[Path, ...] = ()) -> Task:
        """The task as the stages use it, with resources built by `prepare` in `resources_dir`
        (and by `generate` in `extra_dirs`)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release open resources (database handles, sandboxes)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
