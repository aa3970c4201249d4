"""Count how the synthetic labels changed between two runs of `generate` + `validate` over the same
teacher answers (a warm teacher cache), for example before and after a change to grading.

    python benchmarks/label_changes.py OLD_DIR NEW_DIR

Each folder holds a run's `data/` (its `synthetic/raw.jsonl`, `synthetic/dropped.jsonl` and
`validated/{train,val,rejected}.jsonl`): a checkout after `dvc repro validate`, or
`dvc get . data --rev REV -o DIR/data`. Candidates are matched on (database, question).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.io import read_jsonl_numbered  # noqa: E402


def _rows(path: Path) -> list[dict]:
    return [obj for _, obj in read_jsonl_numbered(path)] if path.is_file() else []


def _key(record: dict) -> tuple[str, str]:
    return (record.get("metadata", {}).get("db", ""), " ".join(record["input"].split()).lower())


def _outcomes(data: Path) -> tuple[dict, dict, dict, dict]:
    """(kept by generate, dropped by generate, validated, rejected by validate), each key -> record."""
    kept = {_key(r): r for r in _rows(data / "synthetic" / "raw.jsonl")}
    dropped = {_key(r): r for r in _rows(data / "synthetic" / "dropped.jsonl") if "input" in r}
    valid = {_key(r): r for name in ("train", "val") for r in _rows(data / "validated" / f"{name}.jsonl")}
    rejected = {_key(r): r for r in _rows(data / "validated" / "rejected.jsonl")}
    return kept, dropped, valid, rejected


def compare(old: Path, new: Path) -> dict:
    old_kept, old_dropped, old_valid, old_rejected = _outcomes(old)
    new_kept, new_dropped, new_valid, new_rejected = _outcomes(new)
    vote = Counter()
    for key in set(old_kept) | set(new_kept) | set(old_dropped) | set(new_dropped):
        before, after = old_kept.get(key), new_kept.get(key)
        if before and after:
            vote["kept_same_sql" if before["output"] == after["output"] else "kept_other_sql"] += 1
        elif before:
            vote[f"now_dropped:{new_dropped.get(key, {}).get('reason', 'absent')}"] += 1
        elif after:
            vote[f"now_kept (was {old_dropped.get(key, {}).get('reason', 'absent')})"] += 1
    validation = Counter()
    for key in set(old_valid) | set(new_valid) | set(old_rejected) | set(new_rejected):
        before, after = old_valid.get(key), new_valid.get(key)
        if before and after:
            validation["valid_same_sql" if before["output"] == after["output"] else "valid_other_sql"] += 1
        elif before:
            validation[f"now_rejected:{new_rejected.get(key, {}).get('reason', 'absent')}"] += 1
        elif after:
            validation[f"now_valid (was {old_rejected.get(key, {}).get('reason', 'absent')})"] += 1
    return {
        "generate": {"kept_before": len(old_kept), "kept_after": len(new_kept), **dict(sorted(vote.items()))},
        "validate": {"valid_before": len(old_valid), "valid_after": len(new_valid), **dict(sorted(validation.items()))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path, help="the earlier run's checkout (its data/ folder is read)")
    parser.add_argument("new", type=Path, help="the later run's checkout")
    args = parser.parse_args()
    print(json.dumps(compare(args.old / "data", args.new / "data"), indent=2))


if __name__ == "__main__":
    main()
