import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from distill.config import PrepareConfig, TaskConfig
from distill.examples import read_examples
from distill.io import DataError
from distill.preparation import prepare_seeds, stratified_split

from .conftest import REPO, write_jsonl


def _seed(i, difficulty="easy", sql="SELECT name FROM employees"):
    return {"input": f"Question number {i}?", "output": sql, "metadata": {"difficulty": difficulty, "db": "hr"}}


def _configs(seeds: Path, source: Path):
    return TaskConfig(seeds=str(seeds), source_dir=str(source)), PrepareConfig(seed=1, teacher_val_fraction=0.2)


def test_prepare_builds_database_and_stratified_split(tmp_path, tiny_source):
    rows = [_seed(i, "easy") for i in range(10)] + [_seed(i, "hard") for i in range(10, 15)]
    seeds = write_jsonl(tmp_path / "seeds.jsonl", rows)
    out = tmp_path / "prepared"
    summary = prepare_seeds(*_configs(seeds, tiny_source), out)
    assert (out / "resources" / "hr.sqlite").is_file()
    assert summary["resources"]["hr"] == {"departments": 3, "employees": 4}
    assert summary["teacher_val"]["by_difficulty"] == {"easy": 2, "hard": 1}
    assert summary["test"]["by_difficulty"] == {"easy": 8, "hard": 4}
    val, test = read_examples(out / "teacher_val.jsonl"), read_examples(out / "test.jsonl")
    assert not {e.id for e in val} & {e.id for e in test}
    # Same seed, same split.
    again = prepare_seeds(*_configs(seeds, tiny_source), tmp_path / "again")
    assert again == summary
    assert (tmp_path / "again" / "test.jsonl").read_bytes() == (out / "test.jsonl").read_bytes()


def test_split_is_stratified_and_seeded():
    from distill.examples import Example

    exs = [
        Example(input=str(i), output="x", metadata={"difficulty": d}, id=str(i))
        for i, d in enumerate(["easy"] * 50 + ["medium"] * 30 + ["hard"] * 20)
    ]
    val, test = stratified_split(exs, 0.2, seed=7)
    assert len(val) == 20 and len(test) == 80
    assert sorted(e.difficulty for e in val).count("hard") == 4
    assert stratified_split(exs, 0.2, seed=7) == (val, test)
    assert stratified_split(exs, 0.2, seed=8) != (val, test)


@pytest.mark.parametrize(
    "line3, message",
    [
        ('{"input": "Broken", "output": ', "seeds.jsonl:3: malformed JSON"),
        ('{"output": "SELECT 1", "metadata": {"difficulty": "easy", "db": "hr"}}', "seeds.jsonl:3: field 'input'"),
        ('{"input": "q?", "output": "SELECT 1", "metadata": {"db": "hr"}}', "seeds.jsonl:3: metadata.difficulty"),
        (
            '{"input": "q?", "output": "SELECT 1", "metadata": {"difficulty": "trivial", "db": "hr"}}',
            "seeds.jsonl:3: metadata.difficulty must be one of",
        ),
        (json.dumps(_seed(99, sql="SELECT salary FROM staff")), "seeds.jsonl:3: gold SQL fails: no such table: staff"),
        (
            json.dumps({**_seed(98), "metadata": {"difficulty": "easy", "db": "nope"}}),
            "seeds.jsonl:3: example 'seeds-0003': database 'nope' not found",
        ),
        (json.dumps(_seed(0)), "seeds.jsonl:3: duplicate question"),
        (
            '{"input": "q?", "output": "SELECT 1", "metadata": {"difficulty": null, "db": "hr"}}',
            "seeds.jsonl:3: metadata.difficulty must be one of",
        ),
        (
            '{"id": "seeds-0001", "input": "q?", "output": "SELECT 1", "metadata": {"difficulty": "easy", "db": "hr"}}',
            "seeds.jsonl:3: duplicate id 'seeds-0001'",
        ),
    ],
)
def test_bad_seeds_name_file_and_line_and_write_nothing(tmp_path, tiny_source, line3, message):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps(_seed(0)) + "\n" + json.dumps(_seed(1)) + "\n" + line3 + "\n")
    out = tmp_path / "prepared"
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        prepare_seeds(*_configs(seeds, tiny_source), out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_schema_script_names_file_and_line(tmp_path, tiny_source):
    (tiny_source / "hr" / "data.sql").write_text(
        "INSERT INTO departments VALUES (1, 'A');\n\nINSERT INTO nowhere VALUES (1);\n"
    )
    seeds = write_jsonl(tmp_path / "seeds.jsonl", [_seed(0)])
    with pytest.raises(DataError, match=r"data.sql:3: no such table: nowhere"):
        prepare_seeds(*_configs(seeds, tiny_source), tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_prepare_stage_exits_nonzero_with_a_clear_message(tmp_path, tiny_source):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps(_seed(0)) + "\n{not json}\n")
    (tmp_path / "params.yaml").write_text(
        f"task:\n  seeds: {seeds}\n  source_dir: {tiny_source}\nprepare:\n  seed: 1\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "stages.prepare"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1
    assert f"error: {seeds}:2: malformed JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "prepared").exists()
    assert not (tmp_path / "metrics").exists()


def test_shipped_seeds_are_valid_and_cover_the_range(tmp_path):
    """The demo seeds: >= 120, all gold SQL executes, nearly all non-empty, all difficulties."""
    from distill.tasks.text2sql import Text2SQLTask

    cfg = TaskConfig(seeds=str(REPO / "data/seeds/text2sql/seeds.jsonl"), source_dir=str(REPO / "data/seeds/text2sql"))
    summary = prepare_seeds(cfg, PrepareConfig(), tmp_path / "prepared")
    assert summary["seeds"] >= 120
    assert set(summary["test"]["by_difficulty"]) == {"easy", "medium", "hard"}
    assert len(summary["resources"]["shop"]) >= 5
    task = Text2SQLTask(db_dir=tmp_path / "prepared" / "resources")
    examples = read_examples(cfg.seeds)
    empty = [e.id for e in examples if not task.gold_result(e).rows]
    task.close()
    assert len(empty) <= len(examples) * 0.05, empty
