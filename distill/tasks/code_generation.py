"""Code synthetic data: teacher prompts per kind, in the seed document's instruction-distillation
format, and turning the teacher's JSON into examples.

The teacher writes each task as one JSON object: instruction, signature, reasoning, code,
explanation, test_cases (assert lines) and difficulty. When a response holds no JSON object at all,
the raw response is used instead, as the seed document does: its first function with a docstring
becomes the task and the docstring's `>>>` examples its tests. Such examples carry
`metadata.parse = "raw_fallback"`, which `generate` counts.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap

from distill.examples import DIFFICULTIES, Example
from distill.tasks.base import json_objects
from distill.tasks.code_extract import extract_code

GENERATION_SYSTEM = """You write training data for a model that writes Python functions. Every task is one \
self-contained Python function using only the standard library, with a precise instruction and tests."""

_TASK_FORMAT = (
    '{"instruction": "what the function must do, precisely", "signature": "def name(arg: type) -> type:", '
    '"reasoning": "how to solve it, in one or two sentences", "code": "the complete function", '
    '"explanation": "how the code works, in one sentence", "test_cases": ["assert name(...) == ...", "..."], '
    '"difficulty": "easy|medium|hard"}'
)
_QUESTION_FORMAT = (
    '{"instruction": "what the function must do, precisely", "signature": "def name(arg: type) -> type:", '
    '"test_cases": ["assert name(...) == ...", "..."], "difficulty": "easy|medium|hard"}'
)
_REQUIREMENTS = """Requirements:
- Each task is one function with a new, descriptive snake_case name; standard library only; no input(), \
files, network or randomness.
- Give 3 to 5 test_cases, each one line `assert name(...) == expected`, covering edge cases; they must pass.
- Answer with one JSON object per task and nothing else."""

_PROMPTS = {
    "novel": """Example tasks:
{examples}

Write {count} NEW Python function tasks, different from the examples, with varied difficulty \
(strings, lists, dictionaries, math, parsing, algorithms). For each, give the reasoning, the code, an \
explanation and tests.
{requirements}
Format:
{task_format}""",
    "direct": """Example tasks:
{examples}

Write {count} NEW Python function tasks, different from the examples, with varied difficulty. Do not solve \
them: give the instruction, the signature and tests only.
{requirements}
Format:
{question_format}""",
    "paraphrase": """Task:
{first}

Rewrite the instruction in {count} different ways. Each rewrite must keep exactly the same meaning, so the \
same function and tests still apply: vary the wording, the sentence structure and the tone.
Output one JSON object per line and nothing else:
{{"instruction": "..."}}""",
    "complexity": """Task:
{first}

Write {count} variants of this task: some simpler (drop a condition or a parameter) and some harder (add a \
condition, an edge case, a parameter or a second step). For each, give the reasoning, the code, an \
explanation and tests.
{requirements}
Format:
{task_format}""",
    "schema_substitution": """Task:
{first}

Write {count} tasks that use the same algorithmic pattern as this one in a different domain (other data, \
names and story: a library, a clinic, a game, a timetable...). For each, give the reasoning, the code, an \
explanation and tests.
{requirements}
Format:
{task_format}""",
}
KINDS = tuple(_PROMPTS)
"""The generation kinds this task can prompt for: one teacher prompt each. `generate.mix` gives
each a share; a kind with a share > 0 that is not here is a param error. For code,
schema_substitution means: the seed's algorithmic pattern in another domain."""
ONE_SEED_KINDS = ("paraphrase", "complexity")
"""Kinds that rework one seed; the others are shown a few seeds."""
QUESTION_ONLY_KINDS = ("direct",)
"""Kinds whose candidates come without a proposed answer: the teacher's vote labels them."""


class _RenameCandidate(ast.NodeTransformer):
    def __init__(self, name: str):
        self.name = name

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(self.name, node.ctx) if node.id == "candidate" else node


def assert_lines(tests: str, entry_point: str) -> list[str]:
    """The statements inside `check(candidate)`, calling the function by its name (for prompts)."""
    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return []
    check = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
    if check is None:
        return []
    return [ast.unparse(_RenameCandidate(entry_point).visit(stmt)) for stmt in check.body]


def _instruction(example: Example) -> str:
    fn = _function(example.input, example.metadata.get("entry_point", ""))
    return (ast.get_docstring(fn) or "") if fn else example.input


def _signature(example: Example) -> str:
    fn = _function(example.input, example.metadata.get("entry_point", ""))
    return _signature_of(fn) if fn else ""


def _task_json(example: Example, with_code: bool = True) -> str:
    entry_point = example.metadata.get("entry_point", "")
    row = {"instruction": _instruction(example), "signature": _signature(example)}
    if with_code:
        row["code"] = example.output
    row["test_cases"] = assert_lines(example.metadata.get("tests", ""), entry_point)[:4]
    row["difficulty"] = example.difficulty
    return json.dumps(row, ensure_ascii=False)


def proposal_user_prompt(kind: str, seeds: list[Example], count: int) -> str:
    return _PROMPTS[kind].format(
        examples="\n".join(_task_json(s, with_code=True) for s in seeds),
        first=_task_json(seeds[0]),
        count=count,
        requirements=_REQUIREMENTS,
        task_format=_TASK_FORMAT,
        question_format=_QUESTION_FORMAT,
    )


# -- from the teacher's text to examples -------------------------------------------------------------------
def _function(code: str, name: str = "") -> ast.FunctionDef | None:
    """The top-level function `name` in `code` (the first one if no name), or None."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    return next((f for f in functions if f.name == name), None) if name else (functions[0] if functions else None)


def _signature_of(fn: ast.FunctionDef) -> str:
    returns = f" -> {ast.unparse(fn.returns)}" if fn.returns else ""
    return f"def {fn.name}({ast.unparse(fn.args)}){returns}:"


def _imports(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return []
    return [ast.unparse(n) for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]


def build_prompt(signature: str, instruction: str, imports: list[str] = ()) -> str:
    """A HumanEval-style prompt: imports, the signature and the instruction as its docstring."""
    doc = textwrap.fill(" ".join(instruction.replace('"""', "'''").split()), width=92)
    body = textwrap.indent(f'"""{doc}\n"""', "    ")
    head = "\n".join(imports) + "\n\n\n" if imports else ""
    return f"{head}{signature}\n{body}\n"


def check_source(test_cases: list, entry_point: str) -> str:
    """HumanEval-style tests from assert lines: `check(candidate)` binds the function's name to the
    candidate, so the teacher's lines run unchanged."""
    lines = []
    for case in test_cases:
        if isinstance(case, dict) and "input" in case and "output" in case:
            case = f"assert {entry_point}({case['input']}) == {case['output']!r}"
        if not isinstance(case, str):
            continue
        try:
            statements = ast.parse(case.strip()).body
        except SyntaxError:
            continue  # one broken test line must not sink the others
        lines += [ast.unparse(s) for s in statements if isinstance(s, ast.Assert)]
    if not lines:
        return ""
    body = "\n".join(f"    {line}" for line in [f"{entry_point} = candidate", *lines])
    return f"def check(candidate):\n{body}\n"


_DOCTEST = re.compile(r"^\s*>>>\s*(.+)\n\s*([^\s>].*)$", re.MULTILINE)


def doctest_cases(docstring: str) -> list[str]:
    """`>>> f(x)` followed by its result line, as assert lines."""
    return [f"assert {call.strip()} == {result.strip()}" for call, result in _DOCTEST.findall(docstring)]


def _difficulty(obj: dict, seed: Example) -> str:
    return obj["difficulty"] if obj.get("difficulty") in DIFFICULTIES else seed.difficulty


def example_from_task(obj: dict, kind: str, seed: Example, parse: str = "json") -> Example | None:
    """An example from one instruction-distillation object; None when it names no function."""
    instruction = obj.get("instruction")
    code = obj.get("code") if isinstance(obj.get("code"), str) else ""
    if not isinstance(instruction, str) or not instruction.strip():
        return None
    fn = _function(code) if code else None
    if fn is None and isinstance(obj.get("signature"), str):
        fn = _function(obj["signature"].strip().rstrip(":") + ":\n    pass\n")
    if fn is None:
        return None
    tests = obj.get("test_cases") if isinstance(obj.get("test_cases"), list) else []
    metadata = {
        "entry_point": fn.name,
        "tests": check_source(tests, fn.name),
        "kind": kind,
        "difficulty": _difficulty(obj, seed),
        "parent": seed.id,
        "parse": parse,
    }
    for key in ("reasoning", "explanation"):
        if isinstance(obj.get(key), str) and obj[key].strip():
            metadata[key] = obj[key].strip()
    prompt = build_prompt(_signature_of(fn), instruction, _imports(code))
    return Example(input=prompt, output=code.strip() if kind not in QUESTION_ONLY_KINDS else "", metadata=metadata)


def raw_fallback(text: str, kind: str, seed: Example) -> list[Example]:
    """The seed document's fallback for a response that is not JSON: keep the raw response, and
    take its first documented function as the task, with the docstring's examples as tests."""
    code = extract_code(text)
    fn = _function(code)
    doc = ast.get_docstring(fn) if fn else None
    if fn is None or not doc:
        return []
    cases = doctest_cases(doc)
    instruction = "\n".join(line for line in doc.splitlines() if not line.strip().startswith(">>>"))
    obj = {"instruction": instruction, "code": code, "test_cases": cases, "raw_response": text}
    example = example_from_task(obj, kind, seed, parse="raw_fallback")
    return [example] if example else []


def parse_proposals(text: str, kind: str, seed: Example) -> list[Example]:
    objects = json_objects(text)
    if not objects:
        return raw_fallback(text, kind, seed)
    if kind == "paraphrase":
        # The rewording keeps the seed's function and tests; self-consistency checks the teacher agrees.
        signature = _signature(seed)
        out = []
        for obj in objects:
            if isinstance(obj.get("instruction"), str) and obj["instruction"].strip():
                meta = {**seed.metadata, "kind": kind, "parent": seed.id, "parse": "json"}
                imports = _imports(seed.input)
                out.append(Example(build_prompt(signature, obj["instruction"], imports), seed.output, meta))
        return out
    return [ex for obj in objects if (ex := example_from_task(obj, kind, seed)) is not None]
