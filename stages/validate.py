"""Stage validate: task checks, refusals, duplicates and test-split leakage; then the 90/10 split.

Outputs: data/validated/{train.jsonl, val.jsonl, rejected.jsonl}, metrics/validate.json.
"""

from __future__ import annotations

from distill.config import load_params
from distill.examples import read_examples
from distill.generation.diversity import diversity
from distill.io import atomic_dir, write_json, write_jsonl
from distill.layouts import PREPARED, RAW, REJECTED, RESOURCES, SYNTHETIC, TEST, TRAIN, VAL, VALIDATED, stage_metrics
from distill.tasks import make_task
from distill.validation.filters import validate_examples
from stages import run_stage


def main() -> None:
    params = load_params()
    examples = read_examples(SYNTHETIC / RAW)
    test = read_examples(PREPARED / TEST)
    with make_task(params.task, PREPARED / RESOURCES, SYNTHETIC / RESOURCES) as task:
        result = validate_examples(task, examples, test, params.validate)
        shapes = diversity(task, [*result.train, *result.val])
    with atomic_dir(VALIDATED) as staging:
        write_jsonl(staging / REJECTED, result.rejected)
        write_jsonl(staging / VAL, [ex.to_dict() for ex in result.val])
        write_jsonl(staging / TRAIN, [ex.to_dict() for ex in result.train])
    metrics = {**result.metrics(len(examples)), "diversity": shapes}
    write_json(stage_metrics("validate"), metrics)
    print(
        f"validate: {metrics['valid']} of {metrics['candidates']} valid ({metrics['valid_ratio']:.0%}); "
        f"train {metrics['train']}, val {metrics['val']}; {shapes['total']['skeletons']} distinct skeletons, "
        f"tables unused: {shapes['total']['tables_unused'] or 'none'}; rejected: {metrics['rejected']}"
    )


if __name__ == "__main__":
    run_stage(main, "validate")
