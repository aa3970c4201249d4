"""Generation that wastes less teacher time: checks before any answer is paid for, verification
by agreement, difficulty from the SQL's structure, diversity and label precision."""

from __future__ import annotations

import dataclasses

import pytest

from distill.config import TeacherConfig, load_params
from distill.examples import Example, read_examples
from distill.generation.diversity import diversity
from distill.generation.labeling import verify
from distill.generation.precision import measure_label_precision
from distill.generation.run import answer_requests, checked_candidates
from distill.layouts import RESOURCES, TEACHER_VAL
from distill.tasks import make_task
from distill.tasks.sql_structure import sql_structure
from distill.teachers import make_client

from .conftest import REPO
from .fake_teacher import shop_teacher
from .servers import FakeOpenAIServer

SHOP = {"db": "shop", "kind": "novel"}


@pytest.fixture()
def shop_task(prepared_shop):
    params = load_params(REPO / "params.yaml")
    task = make_task(params.task, prepared_shop / RESOURCES)
    yield task
    task.close()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT COUNT(*) FROM widgets", "unknown_table"),
        ("SELECT colour FROM products", "unknown_column"),
        (
            "SELECT p.name FROM products p JOIN categories c ON c.category_id = p.category_id WHERE c.nme = 'x'",
            "unknown_column",
        ),
        ("DELETE FROM products", "unsafe"),
        ("UPDATE products SET price = 0", "unsafe"),
        ("SELECT 1; DROP TABLE products", "unsafe"),
        ("SELEC name FROM products", "parse_error"),
        ("SELECT name FROM products WHERE", "parse_error"),
        ("SELECT name FROM products WHERE price > 1e12", "empty_result"),
    ],
)
def test_a_hopeless_proposal_is_dropped_before_any_answer(shop_task, sql, reason):
    problem = shop_task.precheck(Example("Some question?", sql, SHOP))
    assert problem is not None and problem.reason == reason


def test_a_sound_proposal_and_a_question_without_one_pass_the_checks(shop_task):
    assert shop_task.precheck(Example("How many products?", "SELECT COUNT(*) FROM products", SHOP)) is None
    assert shop_task.precheck(Example("How many products?", "", {"db": "shop", "kind": "direct"})) is None


def test_checks_run_before_answers_and_duplicates_of_seeds_are_dropped(shop_task, prepared_shop):
    from collections import Counter, defaultdict

    from distill.generation.run import Proposal
    from distill.teachers import CallResult, TeacherRequest, TeacherResponse

    pool = read_examples(prepared_shop / TEACHER_VAL)
    text = "\n".join(
        [
            f'{{"question": "{pool[0].input}", "sql": "SELECT 1"}}',  # a seed's own question
            '{"question": "How many products?", "sql": "SELECT COUNT(*) FROM products"}',
            '{"question": "how many  PRODUCTS?", "sql": "SELECT COUNT(*) FROM products"}',  # same question again
            '{"question": "Widgets?", "sql": "SELECT * FROM widgets"}',
        ]
    )
    request = TeacherRequest(({"role": "user", "content": "propose"},))
    proposal = Proposal("novel", [pool[0]], 4, request)
    counts, dropped = defaultdict(Counter), []
    kept = checked_candidates(
        shop_task, [proposal], [CallResult(request, TeacherResponse(text, 1, 1))], pool, prepared_shop, counts, dropped
    )
    assert [c.input for c in kept] == ["How many products?"]
    assert counts["novel"]["duplicate"] == 2 and counts["novel"]["unknown_table"] == 1
    assert counts["novel"]["proposed"] == 4 and counts["novel"]["candidates"] == 1
    assert {d["reason"] for d in dropped} == {"duplicate", "unknown_table"}


def test_verification_keeps_only_answers_agreeing_with_the_proposal(shop_task):
    cand = Example("How many categories are there?", "SELECT COUNT(*) FROM categories", SHOP)
    agreeing = "SELECT COUNT(category_id) FROM categories"
    kept = verify(shop_task, cand, [agreeing])
    assert kept.output == agreeing and kept.reason is None
    assert verify(shop_task, cand, ["SELECT 1"]).reason == "disagrees_with_proposal"
    assert (
        verify(shop_task, cand, [agreeing, "SELECT 1"]).reason == "disagrees_with_proposal"
    )  # every answer must agree
    assert verify(shop_task, cand, ["no sql here"]).reason == "no_answer_runs"


def test_answer_calls_follow_verify_for_proposals_and_the_vote_otherwise(shop_task):
    params = load_params(REPO / "params.yaml")
    g = params.generate
    proposed = answer_requests(
        params.generate, params.evaluate.max_new_tokens, shop_task, Example("Q?", "SELECT 1", SHOP)
    )
    bare = answer_requests(params.generate, params.evaluate.max_new_tokens, shop_task, Example("Q?", "", SHOP))
    assert len(proposed) == g.verify.samples and {r.temperature for r in proposed} == {g.verify.temperature}
    assert len(bare) == g.self_consistency.samples and [r.sample_index for r in bare] == list(range(len(bare)))


@pytest.mark.parametrize(
    ("sql", "difficulty"),
    [
        ("SELECT name FROM products WHERE price > 10", "easy"),
        ("SELECT COUNT(*) FROM products", "easy"),
        ("SELECT category_id, COUNT(*) FROM products GROUP BY category_id", "medium"),
        ("SELECT p.name FROM products p JOIN categories c ON c.category_id = p.category_id", "easy"),
        (
            "SELECT c.name, COUNT(*) FROM products p JOIN categories c ON c.category_id = p.category_id "
            "GROUP BY c.name",
            "medium",
        ),
        ("SELECT name FROM products WHERE price > (SELECT AVG(price) FROM products)", "medium"),
        (
            "SELECT c.name, SUM(oi.quantity) FROM order_items oi JOIN products p ON p.product_id = oi.product_id "
            "JOIN categories c ON c.category_id = p.category_id GROUP BY c.name HAVING SUM(oi.quantity) > 5",
            "hard",
        ),
        ("SELECT name FROM products UNION SELECT name FROM categories WHERE category_id IN (SELECT 1)", "hard"),
    ],
)
def test_difficulty_comes_from_the_sql_structure(shop_task, sql, difficulty):
    shape = shop_task.structure(sql, Example("q", sql, SHOP))
    assert shape is not None and shape.difficulty == difficulty


def test_skeletons_ignore_literals_and_columns_resolve_to_their_tables():
    schema = {"products": {"product_id", "name", "price"}, "categories": {"category_id", "name"}}
    a = sql_structure("SELECT name FROM products WHERE price > 10 AND name = 'x'", schema)
    b = sql_structure("select NAME from products where price > 99.5 and name = 'other'", schema)
    assert a.skeleton == b.skeleton and "?" in a.skeleton
    assert a.sources == {"products"} and a.fields == {"products.name", "products.price"}
    joined = sql_structure("SELECT c.name FROM products p JOIN categories c ON c.category_id = p.product_id", schema)
    assert joined.fields == {"categories.name", "categories.category_id", "products.product_id"}
    assert sql_structure("DELETE FROM products", schema) is None


def test_diversity_counts_skeletons_tables_and_the_difficulty_mix(shop_task):
    examples = [
        Example("a", "SELECT name FROM products WHERE price > 1", SHOP),
        Example("b", "SELECT name FROM products WHERE price > 2", SHOP),
        Example("c", "SELECT COUNT(*) FROM categories", {"db": "shop", "kind": "direct"}),
    ]
    report = diversity(shop_task, examples)
    total = report["total"]
    assert total["pairs"] == 3 and total["skeletons"] == 2 and total["tables"] == 2
    assert total["difficulty"] == {"easy": 3}
    assert "products" not in total["tables_unused"]["shop"] and total["schema_tables"] > 2
    assert report["by_kind"]["novel"]["skeletons"] == 1


def _probe(prepared_shop, tmp_path, wrong: bool) -> dict:
    params = load_params(REPO / "params.yaml")
    with FakeOpenAIServer(responder=shop_teacher(REPO, wrong=wrong)) as srv:
        teacher = TeacherConfig(provider="openai", model="fake-teacher", base_url=srv.base_url, concurrency=4)
        params = dataclasses.replace(params, teacher=teacher)
        task = make_task(params.task, prepared_shop / RESOURCES)
        client = make_client(params.teacher, tmp_path / "cache", progress=False)
        try:
            return measure_label_precision(
                params.generate,
                params.evaluate.max_new_tokens,
                task,
                read_examples(prepared_shop / TEACHER_VAL),
                client,
            )
        finally:
            client.close()
            task.close()


def test_label_precision_grades_kept_labels_against_the_hidden_gold(prepared_shop, tmp_path):
    good = _probe(prepared_shop, tmp_path / "good", wrong=False)
    assert good["questions"] == 29 and good["n"] > 0
    assert good["value"] == 1.0 and good["ci95"][0] < 1.0 <= good["ci95"][1]
    assert good["by_path"]["verified"]["n"] + good["by_path"]["voted"]["n"] == good["n"]
    bad = _probe(prepared_shop, tmp_path / "bad", wrong=True)
    assert bad["n"] == 0 or bad["value"] < 0.5
