"""The student prompt (system rules and schema, no worked examples) is the one prompt a trained
student sees: in training, evaluation, export (prompt.json, the Modelfile), `serve` and `ask`.
The teacher and the base keep the few-shot prompt."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from distill.evaluation.harness import evaluate_model
from distill.evaluation.run import model_prompts
from distill.examples import Example
from distill.export.ask import ask
from distill.export.modelfile import chat_format, parse_modelfile, render_modelfile
from distill.export.prompt import load_prompt_spec, prompt_spec, save_prompt_spec
from distill.inference.base import Generation
from distill.tasks.text2sql import Text2SQLTask
from distill.training.data import prompt_completion, tokenize_example
from distill.training.soft_labels import load_split, read_manifest, write_teacher_logits

from .test_kd import _kd_params

WORKED = [
    {"input": "How many employees are there?", "output": "SELECT COUNT(*) FROM employees"},
    {"input": "List the department names.", "output": "SELECT name FROM departments"},
]


@pytest.fixture
def task_with_examples(tiny_source, tmp_path):
    """The tiny `hr` task, with two worked examples in its few-shot prompt."""
    (tiny_source / "hr" / "examples.jsonl").write_text("".join(json.dumps(w) + "\n" for w in WORKED))
    task = Text2SQLTask(db_dir=tmp_path / "db", timeout_s=1.0, max_rows=100)
    task.build_resources(tiny_source, tmp_path / "db")
    yield task
    task.close()


class Recorder:
    """A chat model that answers a fixed query and keeps every conversation it was sent."""

    name = "recorder"
    batch_size = 4

    def __init__(self):
        self.seen: list[list[dict]] = []

    def generate(self, conversations, temperature=0.0, sample_index=0):
        self.seen += conversations
        return [Generation(text="SELECT COUNT(*) FROM employees", seconds=0.01, tokens=5) for _ in conversations]


def _question() -> Example:
    return Example(
        input="How many departments are there?", output="SELECT COUNT(*) FROM departments", metadata={"db": "hr"}
    )


def test_the_student_prompt_drops_only_the_worked_examples(task_with_examples):
    example = _question()
    few_shot, student = task_with_examples.messages(example), task_with_examples.student_messages(example)
    assert len(few_shot) == 1 + 2 * len(WORKED) + 1
    assert student == [few_shot[0], few_shot[-1]]  # the system rules and schema, then the question
    assert "CREATE TABLE" in student[0]["content"]
    assert WORKED[0]["output"] not in json.dumps(student)


def test_every_student_path_renders_the_same_prompt(task_with_examples, tiny_checkpoint, tmp_path):
    task = task_with_examples
    example = _question()
    expected = task.student_messages(example)

    # Training: the prompt/completion record and its tokens.
    assert prompt_completion(task, example)["prompt"] == expected
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    seq = tokenize_example(tokenizer, task, example)
    rendered = tokenizer.apply_chat_template(expected, tokenize=True, add_generation_prompt=True, return_dict=True)
    assert seq.input_ids[: seq.completion_start] == list(rendered["input_ids"])

    # Evaluation: a trained student is graded under the student prompt.
    assert model_prompts(task, [example])["student"] == ("zero_shot",)
    evaluated = Recorder()
    evaluate_model(evaluated, task, [example], few_shot=False)
    assert evaluated.seen == [expected]

    # Export: prompt.json (what `serve` prepends) and the Modelfile.
    save_prompt_spec(prompt_spec(task, example), tmp_path)
    spec = load_prompt_spec(tmp_path)
    question = [{"role": "user", "content": example.input}]
    assert spec.with_prefix(question) == expected
    modelfile = parse_modelfile(render_modelfile("student.gguf", chat_format(tokenizer), spec.prefix, 4096, 160))
    assert [{"role": "system", "content": modelfile.system}, *modelfile.messages, *question] == expected

    # `ask`: the exported model answers a new question under the same prompt.
    asked = Recorder()
    ask(asked, task, spec, example.input)
    assert asked.seen == [expected]


def test_the_teacher_and_the_base_keep_the_few_shot_prompt(task_with_examples):
    task = task_with_examples
    example = _question()
    prompts = model_prompts(task, [example])
    assert prompts["teacher"] == ("few_shot",)
    assert prompts["base"] == ("few_shot", "zero_shot")
    teacher = Recorder()
    evaluate_model(teacher, task, [example])
    assert teacher.seen == [task.messages(example)]


def test_without_worked_examples_the_base_is_graded_once(tiny_task):
    example = _question()
    assert tiny_task.messages(example) == tiny_task.student_messages(example)
    assert model_prompts(tiny_task, [example])["base"] == ("few_shot",)


def test_soft_labels_are_stored_on_the_student_prompt_and_scored_after_the_few_shot_one(
    task_with_examples, tiny_checkpoint, tmp_path
):
    example = Example(input="How many departments are there?", output="SELECT COUNT(*) FROM departments", id="q0")
    example.metadata["db"] = "hr"
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    student = tokenize_example(tokenizer, task_with_examples, example)
    few_shot = tokenize_example(tokenizer, task_with_examples, example, few_shot=True)
    assert len(few_shot.input_ids) > len(student.input_ids)  # the worked examples
    out = tmp_path / "teacher_logits"
    out.mkdir()
    params = _kd_params(tiny_checkpoint)
    splits = {"train": [example], "val": []}
    manifest = write_teacher_logits(
        params.train, params.teacher, params.student.model, task_with_examples, splits, tiny_checkpoint, out
    )
    assert manifest["status"] == "ok" and read_manifest(out)["student_prompt"] == "zero_shot"
    labels = load_split(out, "train", manifest, ["q0"])
    assert labels.sequence(0) == student.input_ids  # what the student trains on
    assert len(labels.labels(0).tail) == len(student.input_ids) - student.completion_start
