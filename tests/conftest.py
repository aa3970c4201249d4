from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.tasks.text2sql import Text2SQLTask

REPO = Path(__file__).resolve().parents[1]

TINY_SCHEMA = """
CREATE TABLE departments (
  department_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL
);
CREATE TABLE employees (
  employee_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  department_id INTEGER REFERENCES departments(department_id),
  salary REAL,
  manager_id INTEGER  -- NULL for the top manager
);
"""

TINY_DATA = """
INSERT INTO departments VALUES (1, 'Sales'), (2, 'Engineering'), (3, 'Support');
INSERT INTO employees VALUES (1, 'Ada', 2, 120.5, NULL);
INSERT INTO employees VALUES (2, 'Bob', 1, 80.0, 1);
INSERT INTO employees VALUES (3, 'Cy', 1, 75.25, 2);
INSERT INTO employees VALUES (4, 'Di', 3, NULL, 1);
"""


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def tiny_source(tmp_path: Path) -> Path:
    """A seed folder with one small database, `hr`."""
    folder = tmp_path / "seeds" / "hr"
    folder.mkdir(parents=True)
    (folder / "schema.sql").write_text(TINY_SCHEMA)
    (folder / "data.sql").write_text(TINY_DATA)
    return folder.parent


@pytest.fixture
def tiny_task(tiny_source: Path, tmp_path: Path):
    """A text2sql task over the built `hr` database in tmp_path/db/hr.sqlite."""
    db_dir = tmp_path / "db"
    task = Text2SQLTask(db_dir=db_dir, timeout_s=1.0, max_rows=100)
    task.build_resources(tiny_source, db_dir)
    yield task
    task.close()


def copy_repo(dest: Path, keep_results: bool = False) -> Path:
    """A copy of the repository's tracked files (no results unless asked), as a fresh git repo."""
    import shutil
    import subprocess

    # Tracked files plus new ones not yet committed (but never ignored ones: data, caches).
    listing = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(listing, cwd=REPO, capture_output=True, text=True, check=True).stdout
    for rel in tracked.splitlines():
        if not keep_results and (rel == "dvc.lock" or rel.startswith("metrics/")):
            continue
        if rel.startswith("data/") and not rel.startswith("data/seeds/"):
            continue  # stage outputs, possibly from a run in progress
        if not (REPO / rel).exists():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest / rel)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


@pytest.fixture(scope="session")
def prepared_shop(tmp_path_factory) -> Path:
    """The repository's seeds prepared (resources, teacher_val, test) once per session."""
    from distill.config import load_params
    from distill.preparation import prepare_seeds

    params = load_params(REPO / "params.yaml")
    out = tmp_path_factory.mktemp("prepared") / "prepared"
    task_config = params.task.__class__(
        **{
            **params.task.__dict__,
            "seeds": str(REPO / params.task.seeds),
            "source_dir": str(REPO / params.task.source_dir),
        }
    )
    prepare_seeds(task_config, params.prepare, out)
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A 2-layer random llama with the SmolLM2 tokenizer (and its chat template)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from distill.models import resolve_hf

    tokenizer = AutoTokenizer.from_pretrained(resolve_hf("smollm2-135m-instruct"))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
    )
    path = tmp_path_factory.mktemp("tiny")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
