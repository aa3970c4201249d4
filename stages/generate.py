"""Stage generate: the teacher writes candidate examples; fixed checks drop the hopeless ones
before any answer is paid for; the teacher's own answers then verify a proposal (or vote, for a
question without one) by execution. `label_precision` runs the same path on the
teacher-validation questions, whose answers are known.

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

from distill.config import load_params
from distill.examples import read_examples
from distill.generation.diversity import diversity
from distill.generation.precision import measure_label_precision
from distill.generation.run import estimate, generate
from distill.io import DataError, read_json, write_json, write_jsonl
from distill.layouts import DROPPED, PREPARED, RAW, RESOURCES, SYNTHETIC, TEACHER_VAL, stage_metrics, teacher_cache
from distill.tasks import make_task
from distill.teachers import make_client
from stages import run_stage

TEACHER_CACHE = teacher_cache("generate")
GATE_METRICS = stage_metrics("teacher_gate")


def _check_gate() -> None:
    try:
        gate = read_json(GATE_METRICS)
    except DataError:
        raise DataError(f"{GATE_METRICS}: missing or unreadable; run the teacher_gate stage first") from None
    if not gate.get("pass"):
        raise DataError(f"{GATE_METRICS}: the teacher did not pass the gate; see its failures before generating")


def main() -> bool | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="estimate calls, tokens and USD; call nothing")
    args = parser.parse_args()
    params = load_params()
    dry_run = args.dry_run or params.generate.dry_run
    if not dry_run:
        _check_gate()
    pool = read_examples(PREPARED / TEACHER_VAL)
    task = make_task(params.task, PREPARED / RESOURCES, SYNTHETIC / RESOURCES)
    client = make_client(params.teacher, TEACHER_CACHE, dry_run=dry_run)
    try:
        if dry_run:
            print(json.dumps(estimate(params.generate, params.evaluate.max_new_tokens, task, pool, client), indent=2))
            if params.generate.dry_run and not args.dry_run:
                print("generate.dry_run is true: nothing was generated; set it to false to run", file=sys.stderr)
                sys.exit(1)  # so DVC does not record an empty dataset as done
            return False  # an estimate, not a run: no wall time recorded
        start = time.perf_counter()
        result = generate(params.generate, params.evaluate.max_new_tokens, task, pool, client, SYNTHETIC / RESOURCES)
        seconds = round(time.perf_counter() - start, 1)
        usage = client.ledger.summary()  # generation alone; the precision probe reports its own
        shapes = diversity(task, result.kept)
        precision = None
        if not result.budget_stop:
            before = (client.ledger.calls, client.ledger.cache_hits, time.perf_counter())
            precision = measure_label_precision(params.generate, params.evaluate.max_new_tokens, task, pool, client)
            precision["teacher_sequences"] = client.ledger.calls - before[0] + client.ledger.cache_hits - before[1]
            precision["seconds"] = round(time.perf_counter() - before[2], 1)
    finally:
        client.close()
        task.close()
    sequences = usage["calls"] + usage["cache_hits"]
    totals = {
        "kept": len(result.kept),
        "proposed": sum(c.get("proposed", 0) for c in result.counts.values()),
        "candidates": sum(c.get("candidates", 0) for c in result.counts.values()),
        "dropped": len(result.dropped),
        "teacher_sequences": sequences,
        "teacher_sequences_per_kept": round(sequences / len(result.kept), 3) if result.kept else None,
    }
    metrics = {
        "kinds": result.counts,
        "totals": totals,
        "diversity": shapes,
        "label_precision": precision,
        "teacher_usage": usage,
        "seconds": seconds,
    }
    write_json(stage_metrics("generate"), {**metrics, "budget_stop": result.budget_stop})
    if result.budget_stop:
        print(
            f"error: {result.budget_stop}. Stopped after {usage['calls']} paid calls "
            f"({usage['cache_hits']} served from the cache); {totals['kept']} examples were complete. Every paid "
            f"response is kept in {TEACHER_CACHE}/: raise teacher.budget_usd and run again to continue for free "
            "up to this point.",
            file=sys.stderr,
        )
        sys.exit(1)
    write_jsonl(SYNTHETIC / DROPPED, result.dropped)
    write_jsonl(SYNTHETIC / RAW, [ex.to_dict() for ex in result.kept])
    print(
        f"generate: {totals['kept']} examples kept of {totals['candidates']} checked candidates "
        f"({totals['proposed']} proposed); {usage['calls']} teacher calls, {usage['cache_hits']} cached, "
        f"${usage['usd']:.4f}, {seconds}s; {shapes['total']['skeletons']} distinct skeletons; "
        f"label precision {(precision or {}).get('value')} on {(precision or {}).get('n', 0)} probe labels"
    )


if __name__ == "__main__":
    run_stage(main, "generate")
