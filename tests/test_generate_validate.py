"""Generation, self-consistency, the gate and validation, driven by a scripted teacher behind the
fake OpenAI server (real SDK, real HTTP), on the repository's shop database."""

from __future__ import annotations

import dataclasses
import re
from contextlib import closing
from pathlib import Path

import pytest

from distill.config import ConfigError, Params, TeacherConfig, load_params
from distill.evaluation.gate import gate_message, run_gate
from distill.evaluation.harness import Repair
from distill.examples import Example, read_examples
from distill.generation.labeling import vote
from distill.generation.run import estimate, generate, plan_proposals
from distill.layouts import RESOURCES, TEACHER_VAL, TEST
from distill.tasks import make_task
from distill.teachers import make_client
from distill.teachers.chat import TeacherChat
from distill.validation.filters import validate_examples

from .conftest import REPO
from .fake_teacher import shop_teacher
from .servers import FakeOpenAIServer


def _params(base_url: str, **generate) -> Params:
    params = load_params(REPO / "params.yaml")
    teacher = TeacherConfig(provider="openai", model="fake-teacher", base_url=base_url, concurrency=4, timeout_s=0.5)
    gen = dataclasses.replace(params.generate, **{"target_examples": 20, **generate})
    return dataclasses.replace(params, teacher=teacher, generate=gen)


def _run_generation(params, prepared: Path, workdir: Path):
    task = make_task(params.task, prepared / RESOURCES, workdir / "resources")
    client = make_client(params.teacher, workdir / "cache", progress=False)
    try:
        result = generate(
            params.generate,
            params.evaluate.max_new_tokens,
            task,
            read_examples(prepared / TEACHER_VAL),
            client,
            workdir / "resources",
        )
    finally:
        client.close()
    return task, result


def test_generation_accounts_for_every_candidate_and_validation_filters(prepared_shop, tmp_path):
    with FakeOpenAIServer(responder=shop_teacher(REPO)) as srv:
        params = _params(srv.base_url)
        task, result = _run_generation(params, prepared_shop, tmp_path)
    try:
        proposed = sum(c.get("proposed", 0) for c in result.counts.values())
        dropped_candidates = [d for d in result.dropped if "input" in d]
        assert proposed == len(result.kept) + len(dropped_candidates)
        assert set(result.counts) == {"novel", "paraphrase", "complexity", "schema_substitution", "direct"}
        assert result.kept, result.dropped
        kinds = {ex.metadata["kind"] for ex in result.kept}
        assert {"novel", "paraphrase", "direct", "schema_substitution"} <= kinds
        # The invented database was built and filled, and its pair runs on it.
        invented = [ex for ex in result.kept if ex.metadata["kind"] == "schema_substitution"]
        assert invented[0].metadata["db"].startswith("invented_")
        assert task.answer_outcome(invented[0].output, invented[0]).rows == ((40,),)

        test = read_examples(prepared_shop / TEST)
        leaked = Example(test[0].input, test[0].output, {**test[0].metadata, "kind": "novel"}, id="leak")
        refusal = Example(
            "List all products.", "I'm sorry, I can't help with that.", {"db": "shop", "kind": "direct"}, id="r"
        )
        broken = Example("Count the widgets.", "SELECT COUNT(*) FROM widgets", {"db": "shop", "kind": "novel"}, id="b")
        empty = Example(
            "Products over a million?", "SELECT name FROM products WHERE price > 1e9", {"db": "shop"}, id="e"
        )
        as_sql = Example("SELECT name FROM categories", "SELECT name FROM categories", {"db": "shop"}, id="q")
        validated = validate_examples(
            task, [*result.kept, leaked, refusal, broken, empty, as_sql], test, params.validate
        )
    finally:
        task.close()
    reasons = {r["id"]: r["reason"] for r in validated.rejected}
    assert reasons["leak"] == "leakage_question"
    assert reasons["r"] == "refusal"
    assert reasons["b"] == "unknown_table"
    assert reasons["e"] == "empty_result"
    assert reasons["q"] == "question_is_answer"
    metrics = validated.metrics(len(result.kept) + 5)
    assert metrics["valid"] == len(validated.train) + len(validated.val) > 0
    assert sum(metrics["rejected"].values()) + metrics["valid"] == metrics["candidates"]
    assert all(r["reason"] and "input" in r for r in validated.rejected)


def test_generation_survives_a_fault_storm_without_repeating_a_paid_call(prepared_shop, tmp_path):
    with FakeOpenAIServer(responder=shop_teacher(REPO), fault_rate=0.2, seed=7, timeout_sleep_s=1.0) as srv:
        params = _params(srv.base_url)
        task, result = _run_generation(params, prepared_shop, tmp_path)
        task.close()
        assert srv.repeated_successes() == []
        assert sum(v for k, v in srv.outcomes.items() if k != "ok") >= 5
    proposed = sum(c.get("proposed", 0) for c in result.counts.values())
    assert proposed == len(result.kept) + len([d for d in result.dropped if "input" in d])
    assert len({(ex.metadata["db"], ex.input) for ex in result.kept}) == len(result.kept)  # no duplicates


def test_leakage_by_output_and_near_duplicates(prepared_shop):
    params = load_params(REPO / "params.yaml")
    task = make_task(params.task, prepared_shop / RESOURCES)
    test = read_examples(prepared_shop / TEST)
    gold = test[0]
    same_sql = Example("Completely different wording here, honestly?", gold.output, gold.metadata, id="s")
    first = Example(
        "How many products belong to category number 3?",
        "SELECT COUNT(*) FROM products WHERE category_id = 3",
        {"db": "shop"},
        id="a",
    )
    twin = Example(
        "How many products belong to category number 3 ?",
        "SELECT COUNT(product_id) FROM products WHERE category_id = 3",
        {"db": "shop"},
        id="t",
    )
    try:
        result = validate_examples(task, [same_sql, first, twin], test, params.validate)
    finally:
        task.close()
    reasons = {r["id"]: r["reason"] for r in result.rejected}
    assert reasons.get("s") == "leakage_output"
    assert "a" not in reasons  # kept: no test question is this close
    assert reasons["t"] == "near_duplicate_question"


def test_self_consistency_vote(prepared_shop):
    params = load_params(REPO / "params.yaml")
    task = make_task(params.task, prepared_shop / RESOURCES)
    cand = Example("How many categories are there?", "", {"db": "shop"})
    right, alt, wrong = "SELECT COUNT(*) FROM categories", "SELECT COUNT(category_id) FROM categories", "SELECT 1"
    try:
        kept = vote(task, cand, [right, alt, wrong])
        assert kept.output == right and kept.agreeing == 2
        assert vote(task, cand, [right, wrong, "SELECT 2"]).reason == "no_majority"
        assert vote(task, cand, ["nonsense", "also nonsense", ""]).reason == "no_answer_runs"
        proposed = dataclasses.replace(cand, output="SELECT 5")
        assert vote(task, proposed, [right, right, alt]).reason == "disagrees_with_proposal"
    finally:
        task.close()


def _gate(params, prepared: Path, cache: Path) -> dict:
    examples = read_examples(prepared / TEACHER_VAL)
    teacher = TeacherChat("teacher", make_client(params.teacher, cache), params.evaluate.max_new_tokens)
    with make_task(params.task, prepared / RESOURCES) as task, closing(teacher):
        return run_gate(teacher, "openai:fake", task, examples, params.gate, Repair.of(params.evaluate))


def test_gate_passes_a_good_teacher_and_fails_a_weak_one(prepared_shop, tmp_path):
    with FakeOpenAIServer(responder=shop_teacher(REPO)) as srv:
        good = _gate(_params(srv.base_url), prepared_shop, tmp_path / "good")
    assert good["pass"] and good["execution_accuracy"] == 1.0 and good["n"] == 29
    assert good["teacher"] == "openai:fake" and good["teacher_usage"]["calls"] == 29
    with FakeOpenAIServer(responder=shop_teacher(REPO, wrong=True)) as srv:
        bad = _gate(_params(srv.base_url), prepared_shop, tmp_path / "bad")
    assert not bad["pass"] and bad["execution_accuracy"] < 0.8
    assert len(bad["failures"]) == bad["n"] - bad["correct"]
    assert bad["ci95"][0] <= bad["execution_accuracy"] <= bad["ci95"][1]
    message = gate_message(bad)
    assert "FAILED" in message and "stronger teacher" in message


def test_plan_and_dry_run(prepared_shop, tmp_path):
    with FakeOpenAIServer() as srv:
        params = _params(srv.base_url, target_examples=40, per_call=5)
        params = dataclasses.replace(
            params, teacher=dataclasses.replace(params.teacher, price_input_per_mtok=3.0, price_output_per_mtok=15.0)
        )
        task = make_task(params.task, prepared_shop / RESOURCES)
        pool = read_examples(prepared_shop / TEACHER_VAL)
        proposals = plan_proposals(params.generate, task, pool)
        assert proposals == plan_proposals(params.generate, task, pool), "planning must be deterministic"
        client = make_client(params.teacher, tmp_path / "cache", progress=False)
        report = estimate(params.generate, params.evaluate.max_new_tokens, task, pool, client)
        client.close()
        task.close()
        assert srv.attempts == 0
    assert report["proposal_calls"]["calls"] == len(proposals)
    # Verification samples for kinds with a proposal, vote samples for questions without one.
    g = params.generate
    per_kind = {p.kind: g.self_consistency.samples if p.kind == "direct" else g.verify.samples for p in proposals}
    assert report["answer_calls"]["calls"] == sum(p.count * per_kind[p.kind] for p in proposals)
    assert report["total_usd_max"] > 0


def test_unknown_kind_share_is_a_config_error(tmp_path):
    text = re.sub(r"\n  mix:[^\n]*\n", lambda m: m.group(0) + "    bogus: 1\n", (REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError, match="generate.mix.bogus"):
        load_params(tmp_path / "params.yaml")


def test_each_task_owns_its_kinds_and_a_share_for_another_is_a_config_error(prepared_shop):
    from distill.config import GenerationMix
    from distill.tasks import TASKS

    mix_kinds = {f.name for f in dataclasses.fields(GenerationMix)}
    for cls in TASKS.values():
        assert cls.generation_kinds and set(cls.generation_kinds) <= mix_kinds, cls.name
    params = load_params(REPO / "params.yaml")
    with make_task(params.task, prepared_shop / RESOURCES) as task:
        pool = read_examples(prepared_shop / TEACHER_VAL)
        task.generation_kinds = ("novel", "paraphrase")  # as a task that cannot prompt for the rest
        with pytest.raises(ConfigError, match=r"generate\.mix\.complexity: task 'text2sql' has no such kind"):
            plan_proposals(params.generate, task, pool)


def test_val_split_keeps_each_parent_seed_on_one_side():
    from distill.validation.filters import split_by_parent

    examples = [
        Example(id=f"syn-{i:03d}", input=f"q{i}", output="SELECT 1", metadata={"parent": f"seeds-{i % 7}"})
        for i in range(70)
    ] + [Example(id="orphan", input="q", output="SELECT 1", metadata={})]
    train, val = split_by_parent(examples, 0.1, seed=0)
    assert len(train) + len(val) == len(examples)
    train_parents = {ex.metadata.get("parent", ex.id) for ex in train}
    val_parents = {ex.metadata.get("parent", ex.id) for ex in val}
    assert train_parents and val_parents and not train_parents & val_parents
    # Whole groups: 7 of 71 asked; only the orphan fits, else one group of 10 goes alone.
    assert len(val) in (1, 10)
    one_parent = [ex for ex in examples if ex.metadata.get("parent") == "seeds-0"]
    assert split_by_parent(one_parent, 0.5, seed=0) == (one_parent, [])  # train is never emptied
    small = [Example(id=f"s{i}", input="q", output="SELECT 1", metadata={"parent": f"p{i % 20}"}) for i in range(40)]
    assert len(split_by_parent(small, 0.1, seed=1)[1]) == 4  # groups of 2 fill 10% exactly
    assert split_by_parent(examples, 0.1, seed=0) == (train, val)  # seeded
    assert train == [ex for ex in examples if ex in train] and val == [ex for ex in examples if ex in val]
