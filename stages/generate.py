"""Stage generate: the teacher writes candidate examples; self-consistency keeps the ones its own
answers agree on by execution.

Outputs: data/synthetic/{raw.jsonl, dropped.jsonl, resources/ (only when a database was
invented)}, metrics/generate.json, and data/teacher_cache/generate/ (every teacher response, kept
across runs).
`python -m stages.generate --dry-run` (or `generate.dry_run: true`) prints the estimated calls,
tokens and USD and calls nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from distill.config import load_params
from distill.examples import read_examples
from distill.generation.run import estimate, generate
from distill.io import DataError, write_json, write_jsonl
from distill.preparation import RESOURCES, TEACHER_VAL
from distill.tasks import make_task
from distill.teachers import make_client
from stages import run_stage

PREPARED = Path("data/prepared")
OUT_DIR = Path("data/synthetic")
TEACHER_CACHE = Path("data/teacher_cache/generate")
GATE_METRICS = Path("metrics/teacher_gate.json")


def _check_gate() -> None:
    try:
        gate = json.loads(GATE_METRICS.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        raise DataError(f"{GATE_METRICS}: missing or unreadable; run the teacher_gate stage first") from None
    if not gate.get("pass"):
        raise DataError(f"{GATE_METRICS}: the teacher did not pass the gate; see its failures before generating")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="estimate calls, tokens and USD; call nothing")
    args = parser.parse_args()
    params = load_params()
    dry_run = args.dry_run or params.generate.dry_run
    if not dry_run:
        _check_gate()
    pool = read_examples(PREPARED / TEACHER_VAL)
    task = make_task(params.task, PREPARED / RESOURCES, OUT_DIR / RESOURCES)
    client = make_client(params.teacher, TEACHER_CACHE, dry_run=dry_run)
    try:
        if dry_run:
            print(json.dumps(estimate(params, task, pool, client), indent=2))
            if params.generate.dry_run and not args.dry_run:
                print("generate.dry_run is true: nothing was generated; set it to false to run", file=sys.stderr)
                sys.exit(1)  # so DVC does not record an empty dataset as done
            return
        start = time.perf_counter()
        result = generate(params, task, pool, client, OUT_DIR / RESOURCES)
        seconds = round(time.perf_counter() - start, 1)
        usage = client.ledger.summary()
    finally:
        client.close()
        task.close()
    totals = {
        "kept": len(result.kept),
        "candidates": sum(c.get("candidates", 0) for c in result.counts.values()),
        "dropped": len(result.dropped),
    }
    metrics = {"kinds": result.counts, "totals": totals, "teacher_usage": usage, "seconds": seconds}
    write_json("metrics/generate.json", {**metrics, "budget_stop": result.budget_stop})
    if result.budget_stop:
        print(
            f"error: {result.budget_stop}. Stopped after {usage['calls']} paid calls "
            f"({usage['cache_hits']} served from the cache); {totals['kept']} examples were complete. Every paid "
            f"response is kept in {TEACHER_CACHE}/: raise teacher.budget_usd and run again to continue for free "
            "up to this point.",
            file=sys.stderr,
        )
        sys.exit(1)
    write_jsonl(OUT_DIR / "dropped.jsonl", result.dropped)
    write_jsonl(OUT_DIR / "raw.jsonl", [ex.to_dict() for ex in result.kept])
    print(
        f"generate: {totals['kept']} examples kept of {totals['candidates']} candidates; "
        f"{usage['calls']} teacher calls, {usage['cache_hits']} cached, ${usage['usd']:.4f}, {seconds}s"
    )


if __name__ == "__main__":
    run_stage(main)
