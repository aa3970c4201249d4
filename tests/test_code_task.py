"""The code task: prompts, extraction, validation and grading by running tests in the sandbox."""

from __future__ import annotations

import json

import pytest

from distill.config import SandboxConfig
from distill.examples import Example
from distill.generation.labeling import vote
from distill.tasks.code import CodeTask, extract_code, load_humaneval, normalize_code, static_problems
from distill.tasks.code_generation import build_prompt, check_source, doctest_cases, parse_proposals

PROMPT = '''def shout_words(text: str) -> list:
    """Return the words of text in upper case.
    >>> shout_words("hi there")
    ['HI', 'THERE']
    """
'''
GOLD = "def shout_words(text: str) -> list:\n    return [w.upper() for w in text.split()]\n"
TESTS = 'def check(candidate):\n    assert candidate("hi there") == ["HI", "THERE"]\n    assert candidate("") == []\n'


@pytest.fixture(scope="module")
def task():
    return CodeTask(limits=SandboxConfig(cpu_s=2, wall_s=4.0, memory_mb=512))


def _ex(**metadata) -> Example:
    meta = {"entry_point": "shout_words", "tests": TESTS, "difficulty": "easy", **metadata}
    return Example(input=PROMPT, output=GOLD, metadata=meta, id="t1")


def test_prompt_is_the_humaneval_style_signature_and_docstring(task):
    messages = task.messages(_ex())
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "```python" in messages[0]["content"]
    assert PROMPT in messages[1]["content"]


def test_extraction_from_model_text():
    fenced = "Here it is:\n```python\ndef f(x):\n    return x\n```\nThis returns x.\n```python\nprint(f(1))\n```"
    assert extract_code(fenced) == "def f(x):\n    return x"
    prose_after = "def f(x):\n    return x + 1\n\nThis function adds one."
    assert extract_code(prose_after) == "def f(x):\n    return x + 1"
    prose_before = "Sure! Here is the code:\nimport math\ndef f(x):\n    return math.sqrt(x)\nHope it helps."
    assert extract_code(prose_before) == "import math\ndef f(x):\n    return math.sqrt(x)"
    assert extract_code("```\ndef g():\n    pass\n```") == "def g():\n    pass"


def test_validation_needs_a_parsing_function_with_a_body():
    assert static_problems(GOLD, "shout_words") == []
    syntax = static_problems("def shout_words(:\n", "shout_words")[0]
    assert syntax.reason == "syntax_error" and syntax.detail.startswith("syntax error")
    missing = static_problems("def other(t):\n    return t\n", "shout_words")[0]
    assert missing.reason == "missing_entry_point" and missing.detail.startswith("missing entry point")
    assert static_problems(PROMPT, "shout_words")[0].reason == "stub"
    assert static_problems("", "shout_words")[0].reason == "empty_output"


def test_score_runs_the_tests(task):
    ex = _ex()
    good = task.score(f"```python\n{GOLD}```", ex)
    assert good.correct and good.valid and good.exact_match and good.error is None
    # A bare body (completion style) is appended to the prompt, as HumanEval grades it.
    body = task.score("    return [w.upper() for w in text.split()]\n", ex)
    assert body.correct and body.valid
    wrong = task.score("def shout_words(text):\n    return text.upper().split(' ')\n", ex)
    assert not wrong.correct and wrong.valid and wrong.error.startswith("tests fail")
    crashing = task.score("def shout_words(text):\n    return text.nope()\n", ex)
    assert not crashing.correct and "AttributeError" in crashing.error
    hanging = task.score("def shout_words(text):\n    while True:\n        pass\n", ex)
    assert not hanging.correct and hanging.valid
    assert not task.score("I cannot help with that.", ex).correct


def test_answer_outcome_is_the_outputs_of_passing_code(task):
    ex = _ex()
    assert task.answer_outcome(GOLD, ex) == (("'HI'", "'THERE'"), ())
    other_text_same_behaviour = (
        "def shout_words(text):\n    out = []\n    for w in text.split():\n        out.append(w.upper())\n"
        "    return out\n"
    )
    assert task.answer_outcome(other_text_same_behaviour, ex) == task.answer_outcome(GOLD, ex)
    assert task.answer_outcome("def shout_words(text):\n    return []\n", ex) is None  # fails the tests
    assert task.answer_outcome(PROMPT, ex) is None  # the prompt is not an answer
    documented = 'def shout_words(text: str) -> list:\n    """Doc."""\n    # c\n' + GOLD.split("\n", 1)[1]
    assert normalize_code(GOLD) == normalize_code(documented)


def test_problems_name_the_reason(task):
    assert task.problems(_ex()) == []
    broken = Example(PROMPT, "def shout_words(text):\n    return None\n", _ex().metadata)
    assert [p.reason for p in task.problems(broken)] == ["tests_fail"]
    untested = Example(PROMPT, GOLD, {**_ex().metadata, "tests": ""})
    assert [p.reason for p in task.problems(untested)] == ["no_tests"]
    stub = Example(PROMPT, PROMPT, _ex().metadata)
    assert [p.reason for p in task.problems(stub)] == ["stub"]


def test_humaneval_canonical_solutions_pass_in_the_sandbox(task):
    problems = task.benchmark_sets(limit=5)["humaneval"]
    assert [p.id for p in problems] == [f"HumanEval/{i}" for i in range(5)]
    for p in problems:
        assert task.score(p.output, p).correct, p.id
        assert not task.score(p.input + "    pass\n", p).correct
    assert len(load_humaneval()) == 164


def test_teacher_json_becomes_an_instruction_distillation_example(task):
    seed = _ex()
    task_json = {
        "instruction": "Return the sum of the squares of the numbers.",
        "signature": "def sum_of_squares(nums: list) -> int:",
        "reasoning": "Square each number, then add them up.",
        "code": "def sum_of_squares(nums: list) -> int:\n    return sum(n * n for n in nums)",
        "explanation": "A generator expression squares each value.",
        "test_cases": ["assert sum_of_squares([1, 2]) == 5", "assert sum_of_squares([]) == 0", "not python ("],
        "difficulty": "easy",
    }
    text = f"Sure, here are the tasks:\n```json\n{json.dumps(task_json, indent=1)}\n```"
    (ex,) = parse_proposals(text, "novel", seed)
    assert ex.metadata["entry_point"] == "sum_of_squares"
    assert ex.metadata["parse"] == "json" and ex.metadata["reasoning"].startswith("Square")
    assert ex.input.startswith('def sum_of_squares(nums: list) -> int:\n    """Return the sum')
    assert task.problems(ex) == []  # the broken test line was dropped, the others pass


def test_unparsable_response_falls_back_to_the_raw_text(task):
    raw = '''I could not produce JSON, but here is a function:

def double_all(values):
    """Double every value.
    >>> double_all([1, 2])
    [2, 4]
    """
    return [2 * v for v in values]
'''
    (ex,) = parse_proposals(raw, "novel", _ex())
    assert ex.metadata["parse"] == "raw_fallback"
    assert "assert double_all([1, 2]) == [2, 4]" in ex.metadata["tests"]
    assert task.problems(ex) == []
    assert parse_proposals("no code and no JSON here", "novel", _ex()) == []


def test_paraphrase_keeps_the_function_and_tests():
    seed = _ex()
    (ex,) = parse_proposals('{"instruction": "Upper-case every word of text."}', "paraphrase", seed)
    assert ex.output == seed.output and ex.metadata["tests"] == seed.metadata["tests"]
    assert "Upper-case every word" in ex.input and ex.input.startswith("def shout_words(text: str) -> list:")


def test_self_consistency_keeps_agreeing_passing_answers_and_ranks_them(task):
    candidate = _ex()
    long_doc = (
        'def shout_words(text):\n    """Upper-case words."""\n    words = text.split()\n'
        "    return [w.upper() for w in words]\n"
    )
    short = "def shout_words(text):\n    return [w.upper() for w in text.split()]\n"
    failing = "def shout_words(text):\n    return text\n"
    decision = vote(task, candidate, [f"```python\n{long_doc}```", failing, f"```python\n{short}```"])
    assert decision.output == short.strip("\n") and decision.agreeing == 2  # shorter wins among agreeing ones
    dropped = vote(task, candidate, [failing, failing, "no code"])
    assert dropped.output is None and dropped.reason == "no_answer_runs"


def test_check_source_and_prompt_helpers():
    tests = check_source(["assert f(1) == 2", {"input": "2", "output": 3}, 42], "f")
    assert tests == "def check(candidate):\n    f = candidate\n    assert f(1) == 2\n    assert f(2) == 3\n"
    assert doctest_cases(">>> f(1)\n2\n>>> f(2)\n3") == ["assert f(1) == 2", "assert f(2) == 3"]
    prompt = build_prompt("def f(x: int) -> int:", "Add one.", ["import math"])
    assert prompt == 'import math\n\n\ndef f(x: int) -> int:\n    """Add one.\n    """\n'


def test_answer_problem_checks_statically_and_never_runs_the_hidden_tests(task):
    ex = _ex()
    assert task.answer_problem(f"```python\n{GOLD}```", ex) is None
    assert task.answer_problem("def shout_words(text):\n    return []\n", ex) is None  # fails the tests: not said
    assert task.answer_problem("def shout_words(text:\n    return []\n", ex).startswith("syntax error")
    assert task.answer_problem("I cannot help with that.", ex)
