"""How many graded answers a change to SQL extraction affects: every answer text in
`data/eval/predictions.jsonl` (first answers and repaired ones) is extracted by today's code and by
`extract_sql` as it stood at an earlier commit, and each differing one is graded both ways.

    python benchmarks/extraction_changes.py --since 8fda02d

Needs `dvc repro evaluate` first (text2sql). The earlier extraction is graded with today's result
comparison, so "correct" for it leans on today's rule.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.examples import Example  # noqa: E402
from distill.io import read_jsonl_numbered  # noqa: E402
from distill.layouts import RESOURCES  # noqa: E402
from distill.tasks.text2sql import Text2SQLTask  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def old_extract_sql(rev: str):
    """`extract_sql` of distill/tasks/text2sql.py at `rev`, with the helpers it used there."""
    source = subprocess.run(
        ["git", "show", f"{rev}:distill/tasks/text2sql.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    start, end = source.index("_FENCE = re.compile"), source.index("def _query_sources")
    namespace: dict = {}
    header = "import re, sqlite3, sqlglot\nfrom sqlglot import exp\nfrom sqlglot.errors import SqlglotError\n"
    exec(header + source[start:end], namespace)  # noqa: S102 - the project's own code at an earlier commit
    return namespace["extract_sql"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", required=True, help="the commit whose extraction to compare with")
    parser.add_argument("--predictions", type=Path, default=REPO / "data/eval/predictions.jsonl")
    args = parser.parse_args()
    old_extract = old_extract_sql(args.since)
    task = Text2SQLTask(db_dir=REPO / "data/prepared" / RESOURCES)
    texts, differ, graded = 0, Counter(), Counter()
    try:
        for _, record in read_jsonl_numbered(args.predictions):
            example = Example(input=record["input"], output=record["gold"], metadata={"db": "shop"}, id=record["id"])
            for field in ("first_output", "raw_output"):
                text = record.get(field)
                if text is None:
                    continue
                texts += 1
                old, new = old_extract(text), task.extract(text, example)
                if old == new:
                    continue
                model = f"{record['model']} ({record['prompt']})" if "prompt" in record else record["model"]
                differ[model] += 1
                old_correct = bool(old) and task.score(old, example).correct
                graded[f"{model}: old {old_correct}, new {task.score(text, example).correct}"] += 1
    finally:
        task.close()
    print(json.dumps({"answer_texts": texts, "extract_differently": dict(differ), "correct": dict(graded)}, indent=2))


if __name__ == "__main__":
    main()
