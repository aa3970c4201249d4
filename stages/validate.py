"""Stage validate: task checks, refusals, duplicates and test-split leakage; then the 90/10 split.

Outputs: data/validated/{train.jsonl, val.jsonl, rejected.jsonl}, metrics/validate.json.
"""

from __future__ import annotations

from pathlib import Path

from distill.config import load_params
from distill.examples import read_examples
from distill.generation.diversity import diversity
from distill.io import atomic_dir, write_json, write_jsonl
from distill.preparation import RESOURCES, TEST
from distill.tasks import make_task
from distill.validation.filters import validate_examples
from stages import run_stage

PREPARED = Path("data/prepared")
SYNTHETIC = Path("data/synthetic")
OUT_DIR = Path("data/validated")


def main() -> None:
    params = load_params()
    examples = read_examples(SYNTHETIC / "raw.jsonl")
    test = read_examples(PREPARED / TEST)
    task = make_task(params.task, PREPARED / RESOURCES, SYNTHETIC / RESOURCES)
    try:
        result = validate_examples(task, examples, test, params.validate)
        shapes = diversity(task, [*result.train, *result.val])
    finally:
        task.close()
    with atomic_dir(OUT_DIR) as staging:
        write_jsonl(staging / "rejected.jsonl", result.rejected)
        write_jsonl(staging / "val.jsonl", [ex.to_dict() for ex in result.val])
        write_jsonl(staging / "train.jsonl", [ex.to_dict() for ex in result.train])
    metrics = {**result.metrics(len(examples)), "diversity": shapes}
    write_json("metrics/validate.json", metrics)
    print(
        f"validate: {metrics['valid']} of {metrics['candidates']} valid ({metrics['valid_ratio']:.0%}); "
        f"train {metrics['train']}, val {metrics['val']}; {shapes['total']['skeletons']} distinct skeletons, "
        f"tables unused: {shapes['total']['tables_unused'] or 'none'}; rejected: {metrics['rejected']}"
    )


if __name__ == "__main__":
    run_stage(main, "validate")
