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
