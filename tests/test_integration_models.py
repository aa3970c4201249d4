"""The real bundled models load and answer a question. Slow (assembly, GGUF → HF): marked."""

import pytest

from distill.examples import Example
from distill.inference.hf import HFChat
from distill.inference.llamacpp import LlamaCppChat
from distill.models import BUNDLED, resolve_gguf, resolve_hf

pytestmark = pytest.mark.integration

QUESTION = Example(
    input="What is the highest salary of any employee?",
    output="SELECT MAX(salary) FROM employees",
    metadata={"db": "hr", "difficulty": "easy"},
    id="q",
)


def test_bundled_teacher_answers_by_execution(tiny_task):
    source = resolve_gguf("qwen2.5-coder-1.5b-instruct")
    assert source.path.stat().st_size == BUNDLED["qwen2.5-coder-1.5b-instruct"].size
    teacher = LlamaCppChat("teacher", source, n_ctx=2048, threads=2, max_tokens=128)
    try:
        (answer,) = teacher.generate([tiny_task.messages(QUESTION)])
    finally:
        teacher.close()
    score = tiny_task.score(answer.text, QUESTION)
    assert score.valid, answer.text
    assert score.correct, answer.text


def test_bundled_student_loads_through_transformers_and_answers(tiny_task):
    checkpoint = resolve_hf("smollm2-135m-instruct")
    assert resolve_hf("smollm2-135m-instruct") == checkpoint  # converted once, then reused
    student = HFChat("base", checkpoint, batch_size=2, max_new_tokens=48, threads=2)
    answers = student.generate([tiny_task.messages(QUESTION)] * 2)
    assert len(answers) == 2
    assert answers[0].text == answers[1].text  # greedy and batched: deterministic
    assert answers[0].text.strip()
    # Our system prompt replaces SmolLM2's default one ("You are … named SmolLM").
    prompt = student.runtime.tokenizer.apply_chat_template(tiny_task.messages(QUESTION), tokenize=False)
    assert "CREATE TABLE employees" in prompt and "named SmolLM" not in prompt
