"""Yield and cost of the generation recipe, outside DVC: generate, then validate, on a scratch
cache.

    python benchmarks/generation_yield.py --target 200 [--per-call 10] [--cache DIR] [--workspace DIR]

Runs the `generate` stage's own functions with `generate.target_examples=--target` (the rest of
params.yaml as is) against the configured teacher, caching in `--cache` (empty it for a cold
measurement), then `validate`'s filters on the kept pairs. Prints one JSON object: wall seconds,
teacher sequences (calls + cache hits), output tokens, kept and validated pairs, reject reasons,
the per-kind counts and the diversity of the validated set.
Needs `dvc repro prepare` (data/prepared/).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.config import load_params  # noqa: E402
from distill.examples import read_examples  # noqa: E402
from distill.generation.diversity import diversity  # noqa: E402
from distill.generation.run import generate  # noqa: E402
from distill.layouts import RESOURCES, TEACHER_VAL, TEST  # noqa: E402
from distill.tasks import make_task  # noqa: E402
from distill.teachers import make_client  # noqa: E402
from distill.validation.filters import validate_examples  # noqa: E402

PREPARED = Path("data/prepared")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=200)
    parser.add_argument("--per-call", type=int, default=None)
    parser.add_argument("--cache", default="/tmp/distill-generation-yield/cache")
    parser.add_argument("--workspace", default="/tmp/distill-generation-yield/resources")
    args = parser.parse_args()
    params = load_params()
    overrides = {"target_examples": args.target}
    if args.per_call:
        overrides["per_call"] = args.per_call
    params = dataclasses.replace(params, generate=dataclasses.replace(params.generate, **overrides))
    workspace = Path(args.workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    task = make_task(params.task, PREPARED / RESOURCES, workspace)
    client = make_client(params.teacher, args.cache)
    try:
        start = time.perf_counter()
        result = generate(
            params.generate,
            params.evaluate.max_new_tokens,
            task,
            read_examples(PREPARED / TEACHER_VAL),
            client,
            workspace,
        )
        seconds = time.perf_counter() - start
        usage = client.ledger.summary()
    finally:
        client.close()
    try:
        validated = validate_examples(task, result.kept, read_examples(PREPARED / TEST), params.validate)
        valid = [*validated.train, *validated.val]
        shapes = diversity(task, valid)
    finally:
        task.close()
    sequences = usage["calls"] + usage["cache_hits"]
    report = {
        "seconds": round(seconds),
        "teacher_sequences": sequences,
        "output_tokens": usage["output_tokens"],
        "kept": len(result.kept),
        "validated": len(valid),
        "sequences_per_validated": round(sequences / len(valid), 2) if valid else None,
        "rejected": validated.metrics(len(result.kept))["rejected"],
        "kinds": result.counts,
        "diversity_validated": shapes,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
