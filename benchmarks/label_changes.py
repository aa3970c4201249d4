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


def _changes(old_in: dict, old_out: dict, new_in: dict, new_out: dict, kept: str, dropped: str) -> Counter:
    """Per candidate: kept by both runs (same SQL or not), or kept by one and why the other dropped it."""
    counts = Counter()
    for key in set(old_in) | set(new_in) | set(old_out) | set(new_out):
        before, after = old_in.get(key), new_in.get(key)
        if before and after:
            counts[f"{kept}_same_sql" if before["output"] == after["output"] else f"{kept}_other_sql"] += 1
        elif before:
            counts[f"now_{dropped}:{new_out.get(key, {}).get('reason', 'absent')}"] += 1
        elif after:
            counts[f"now_{kept} (was {old_out.get(key, {}).get('reason', 'absent')})"] += 1
    return counts


def compare(old: Path, new: Path) -> dict:
    old_kept, old_dropped, old_valid, old_rejected = _outcomes(old)
    new_kept, new_dropped, new_valid, new_rejected = _outcomes(new)
    vote = _changes(old_kept, old_dropped, new_kept, new_dropped, "kept", "dropped")
    validation = _changes(old_valid, old_rejected, new_valid, new_rejected, "valid", "rejected")
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
