"""The evaluation harness's repair turn: an answer that cannot run goes back once with its error."""

from __future__ import annotations

from distill.evaluation.harness import Repair, evaluate_model
from distill.evaluation.metrics import summarize
from distill.examples import Example
from distill.inference.base import Generation

GOLD = "SELECT name FROM employees WHERE department_id = 1"


class _ScriptedModel:
    """Answers with a broken query first, and with `fixed` when sent a repair request."""

    name, batch_size = "scripted", 2

    def __init__(self, first: str, fixed: str):
        self.first, self.fixed = first, fixed
        self.conversations: list[list[dict]] = []
        self.sampling: list[tuple[float, int]] = []

    def generate(self, conversations, temperature=0.0, sample_index=0):
        self.conversations += conversations
        self.sampling += [(temperature, sample_index)] * len(conversations)
        return [Generation(text=self.fixed if len(c) > 2 else self.first, seconds=1.0, tokens=5) for c in conversations]


def _examples():
    meta = {"db": "hr", "difficulty": "easy"}
    return [
        Example(input="Who works in Sales?", output=GOLD, metadata=meta, id="a"),
        Example(input="Who works in department 1?", output=GOLD, metadata=meta, id="b"),
    ]


def test_an_answer_that_cannot_run_gets_one_repair_turn(tiny_task):
    model = _ScriptedModel(first="SELECT nme FROM employees", fixed=GOLD)
    records = evaluate_model(model, tiny_task, _examples(), repair=Repair(turns=1, temperature=0.7))
    assert [r["correct"] for r in records] == [True, True]
    assert model.sampling == [(0.0, 0)] * 2 + [(0.7, 1)] * 2  # greedy first, then a seeded sample
    assert [r["repairs"] for r in records] == [1, 1]
    assert records[0]["first_output"] == "SELECT nme FROM employees"
    assert records[0]["latency_s"] == 2.0  # both turns count
    repair_request = model.conversations[-1][-1]["content"]
    assert "no such column: nme" in repair_request and GOLD not in repair_request  # the error, never the gold

    summary = summarize(records)
    assert summary["execution_accuracy"] == 1.0
    assert summary["first_answer"]["execution_accuracy"] == 0.0
    assert (summary["repaired"], summary["repaired_correct"]) == (2, 2)


def test_repair_is_off_at_zero_turns_and_answers_that_run_are_final(tiny_task):
    broken = _ScriptedModel(first="SELECT nme FROM employees", fixed=GOLD)
    records = evaluate_model(broken, tiny_task, _examples(), repair=Repair(turns=0))
    assert [r["correct"] for r in records] == [False, False] and len(broken.conversations) == 2

    runs_but_wrong = _ScriptedModel(first="SELECT name FROM employees", fixed=GOLD)
    records = evaluate_model(runs_but_wrong, tiny_task, _examples(), repair=Repair(turns=3))
    assert [r["correct"] for r in records] == [False, False]  # a wrong result is not sent back: that needs the gold
    assert [r["repairs"] for r in records] == [0, 0] and len(runs_but_wrong.conversations) == 2


def test_every_turn_sends_back_only_what_still_fails(tiny_task):
    model = _ScriptedModel(first="SELECT nme FROM employees", fixed="SELECT still_bad FROM employees")
    records = evaluate_model(model, tiny_task, _examples(), repair=Repair(turns=2))
    assert [r["repairs"] for r in records] == [2, 2] and not any(r["correct"] for r in records)
    assert len(model.conversations) == 6  # 2 first answers, then 2 per turn
    assert len(model.conversations[-1]) == 6  # system, question, answer, repair, answer, repair
    assert model.sampling[-1] == (0.0, 0)  # repair_temperature 0: greedy repair turns
