"""The code task through the pipeline's own library code, unchanged: `task.name: code` alone picks
the seeds; prepare checks them (gold passes, no HumanEval copy); generate and validate run on a
scripted teacher behind the fake OpenAI server; evaluate reports pass@k and HumanEval."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pytest

from distill.config import ConfigError, Params, TeacherConfig, load_params
from distill.evaluation import run as evaluation_run
from distill.evaluation.metrics import pass_at_k
from distill.examples import Example, read_examples
from distill.generation.run import generate
from distill.inference.base import Generation
from distill.layouts import RESOURCES, TEACHER_VAL, TEST
from distill.preparation import prepare_seeds
from distill.tasks import make_task
from distill.tasks.code import humaneval_leak, load_humaneval
from distill.teachers import make_client
from distill.validation.filters import validate_examples

from .conftest import REPO
from .servers import FakeOpenAIServer

SEEDS = REPO / "data/seeds/code/seeds.jsonl"


def _code_params(tmp_path: Path, **evaluate) -> Params:
    (tmp_path / "params.yaml").write_text("task:\n  name: code\n")
    params = load_params(tmp_path / "params.yaml")
    task = dataclasses.replace(
        params.task, seeds=str(REPO / params.task.seeds), source_dir=str(REPO / params.task.source_dir)
    )
    return dataclasses.replace(params, task=task, evaluate=dataclasses.replace(params.evaluate, **evaluate))


@pytest.fixture(scope="module")
def prepared_code(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("code")
    params = _code_params(tmp)
    out = tmp / "prepared"
    summary = prepare_seeds(params.task, params.prepare, out)
    assert summary["seeds"] >= 60
    assert summary["resources"]["sandbox"]["network"] in ("namespace", "audit_hook")
    # Never an empty folder: DVC would not restore it on pull or from its run cache.
    assert [p.name for p in (out / "resources").iterdir()] == ["code_task.json"]
    return out


def test_task_name_alone_switches_seeds_and_sources(tmp_path):
    params = _code_params(tmp_path)
    assert params.task.seeds == str(REPO / "data/seeds/code/seeds.jsonl")
    assert params.task.source_dir == str(REPO / "data/seeds/code")
    (tmp_path / "bad.yaml").write_text("task:\n  sandbox:\n    memory_mb: 1\n")
    with pytest.raises(ConfigError, match="task.sandbox.memory_mb"):
        load_params(tmp_path / "bad.yaml")
    (tmp_path / "k.yaml").write_text("evaluate:\n  pass_k: [1, 5]\n  samples: 2\n")
    with pytest.raises(ConfigError, match="evaluate.pass_k"):
        load_params(tmp_path / "k.yaml")


def test_seeds_are_many_varied_and_not_copied_from_humaneval():
    seeds = read_examples(SEEDS, require_difficulty=True)
    assert len(seeds) >= 60
    by_difficulty = {d: sum(s.difficulty == d for s in seeds) for d in ("easy", "medium", "hard")}
    assert min(by_difficulty.values()) >= 10, by_difficulty
    humaneval = load_humaneval()
    assert [s.id for s in seeds if humaneval_leak(s, humaneval)] == []
    # The check does catch a copy: a HumanEval prompt with its function renamed and a word changed.
    copied = humaneval[12].input.replace(humaneval[12].metadata["entry_point"], "longest_text").replace("Out", "From")
    probe = Example(copied, "", {"entry_point": "longest_text"})
    assert humaneval_leak(probe, humaneval).startswith("HumanEval/12")


def test_prepare_rejects_a_failing_gold_and_names_the_line(tmp_path):
    rows = [json.loads(line) for line in SEEDS.read_text().splitlines()[:3]]
    rows[2]["output"] = rows[2]["output"].replace("return", "return None and", 1)
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = _code_params(tmp_path)
    task_config = dataclasses.replace(params.task, seeds=str(seeds))
    with pytest.raises(Exception, match=r"seeds.jsonl:3: the gold solution fails its tests"):
        prepare_seeds(task_config, params.prepare, tmp_path / "out")


class ScriptedCoder:
    """Answers the code task's own prompts: proposal prompts get instruction-distillation JSON (or,
    for `complexity`, a raw non-JSON reply), answer prompts get the solution it knows."""

    def __init__(self, seeds: list[Example]):
        self.known = {s.metadata["entry_point"]: s.output for s in seeds}

    def _task(self, body: dict, k: int) -> dict:
        n = int(hashlib.sha256(json.dumps(body["messages"]).encode()).hexdigest()[:6], 16) % 9000 + k
        name = f"scale_values_by_{n}"
        code = f"def {name}(values: list) -> list:\n    return [v * {n} for v in values]\n"
        self.known[name] = code
        return {
            "instruction": f"Multiply every value by {n}.",
            "signature": f"def {name}(values: list) -> list:",
            "reasoning": "One multiplication per value.",
            "code": code,
            "explanation": "A list comprehension.",
            "test_cases": [f"assert {name}([1, 2]) == [{n}, {2 * n}]", f"assert {name}([]) == []"],
            "difficulty": "easy",
        }

    def __call__(self, body: dict) -> str:
        user = body["messages"][-1]["content"]
        count = int(m.group(1)) if (m := re.search(r"(?:Write|in) (\d+)", user)) else 1
        if "Rewrite the instruction" in user:
            return "\n".join(json.dumps({"instruction": f"Version {i}: do as described."}) for i in range(count))
        if "Format:" in user and "some simpler" in user:
            n = len(self.known)
            name = f"triple_all_{n}"
            self.known[name] = f"def {name}(values):\n    return [3 * v for v in values]\n"
            doc = f'    """Triple each value.\n    >>> {name}([1])\n    [3]\n    """\n'
            return f"Here:\n\ndef {name}(values):\n{doc}    return [3 * v for v in values]\n"
        if "Format:" in user:
            return "```json\n" + "\n".join(json.dumps(self._task(body, k)) for k in range(count)) + "\n```"
        name = re.search(r"def (\w+)\(", user).group(1)
        code = self.known.get(name, f"def {name}(*a):\n    return None\n")
        return f"```python\n{code}```"


def test_generate_and_validate_on_the_code_task(prepared_code, tmp_path):
    params = _code_params(tmp_path)
    teacher = TeacherConfig(provider="openai", model="fake-teacher", base_url="", concurrency=2, timeout_s=2)
    params = dataclasses.replace(params, generate=dataclasses.replace(params.generate, target_examples=12))
    pool = read_examples(prepared_code / TEACHER_VAL)
    task = make_task(params.task, prepared_code / RESOURCES)
    try:
        with FakeOpenAIServer(responder=ScriptedCoder(read_examples(SEEDS))) as srv:
            params = dataclasses.replace(params, teacher=dataclasses.replace(teacher, base_url=srv.base_url))
            client = make_client(params.teacher, tmp_path / "cache", progress=False)
            try:
                result = generate(
                    params.generate, params.evaluate.max_new_tokens, task, pool, client, tmp_path / "resources"
                )
            finally:
                client.close()
        assert result.kept, result.dropped
        assert result.counts["complexity"]["parse_fallbacks"] >= 1
        kinds = {ex.metadata["kind"] for ex in result.kept}
        assert {"novel", "paraphrase", "complexity"} <= kinds
        assert all(task.problems(ex) == [] for ex in result.kept)
        test = read_examples(prepared_code / TEST)
        leaked = dataclasses.replace(test[0], id="leak", metadata={**test[0].metadata, "kind": "novel"})
        validated = validate_examples(task, [*result.kept, leaked], test, params.validate)
    finally:
        task.close()
    assert {r["id"]: r["reason"] for r in validated.rejected}["leak"] == "leakage_question"
    assert len(validated.train) + len(validated.val) >= 3


class GoldModel:
    """Answers with the gold solution on even sample indices and a wrong one on odd ones."""

    batch_size = 4

    def __init__(self, name: str, examples: list[Example]):
        self.name = name
        self.gold = {e.input: e for e in examples}

    def usage(self) -> None:
        return None

    def close(self) -> None:
        pass

    def generate(self, conversations, temperature: float = 0.0, sample_index: int = 0):
        out = []
        for messages in conversations:
            prompt = re.search(r"```python\n(.*)```", messages[-1]["content"], re.DOTALL).group(1)
            ex = self.gold[prompt]
            wrong = f"def {ex.metadata['entry_point']}(*args):\n    return None\n"
            out.append(Generation(text=ex.output if sample_index % 2 == 0 else wrong, seconds=0.01))
        return out


def test_evaluate_reports_pass_at_k_and_humaneval(prepared_code, tmp_path):
    params = _code_params(tmp_path, limit=3, samples=2, pass_k=(1, 2))
    examples = read_examples(prepared_code / TEST)[:3] + load_humaneval()[:3]
    models = {name: GoldModel(name, examples) for name in ("base", "teacher")}
    with make_task(params.task, prepared_code / RESOURCES) as task:
        test = evaluation_run.test_examples(params.evaluate, prepared_code)
        entries, records, usage = evaluation_run.evaluate_models(models.items(), task, test, params.evaluate)
    base = entries["base"]
    assert base["execution_accuracy"] == 0.5 and base["n"] == 3 and base["samples"] == 2
    assert base["pass_at_k"] == {"pass@1": 0.5, "pass@2": 1.0}
    humaneval = base["benchmarks"]["humaneval"]
    assert humaneval["n"] == 3 and humaneval["pass_at_k"] == {"pass@1": 0.5, "pass@2": 1.0}
    assert len(records) == 2 * (3 + 3) * 2  # two models, test + humaneval, two samples each
    assert {r["split"] for r in records if "split" in r} == {"humaneval"}
    assert usage == {}  # only a teacher client reports usage


def test_pass_at_k_is_the_unbiased_estimator():
    records = [{"id": "a", "correct": c} for c in (True, True, False, False, False)]
    assert pass_at_k(records, (1, 2, 5)) == {"pass@1": 0.4, "pass@2": 0.7, "pass@5": 1.0}
    assert pass_at_k(records, (6,)) == {}


def test_sampled_answers_are_seeded_per_sample(tiny_checkpoint):
    from distill.inference.hf import HFChat

    model = HFChat("tiny", tiny_checkpoint, batch_size=2, max_new_tokens=8)
    chat = [[{"role": "system", "content": "s"}, {"role": "user", "content": "def f():"}]]
    first = model.generate(chat, temperature=0.9, sample_index=0)[0].text
    assert model.generate(chat, temperature=0.9, sample_index=0)[0].text == first
    others = {model.generate(chat, temperature=0.9, sample_index=i)[0].text for i in (1, 2, 3)}
    assert others - {first}
    assert model.generate(chat)[0].text == model.generate(chat)[0].text  # greedy by default
