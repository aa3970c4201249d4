"""Decode speed of the batched runtime on long outputs: proposal prompts, sampled.

    python benchmarks/long_outputs.py [--prompts 16] [--slots 16] [--max-tokens 300]

Builds `--prompts` proposal prompts of the `novel` kind (the schema, 4 seed pairs, 10 pairs
asked for), samples each at temperature 0.9 (seed = its index) up to `--max-tokens`, all through
one `LlamaRuntime` with `--slots` sequences per step, and prints the wall time, the tokens
generated and tokens/s in total. This is the workload that limits `generate` on a small machine.
Needs `dvc repro prepare` (data/prepared/) and the bundled teacher.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.config import load_params  # noqa: E402
from distill.examples import read_examples  # noqa: E402
from distill.inference.llamacpp import LlamaRuntime, Sampling  # noqa: E402
from distill.layouts import RESOURCES, TEACHER_VAL  # noqa: E402
from distill.models import resolve_gguf  # noqa: E402
from distill.tasks import make_task  # noqa: E402

PREPARED = Path("data/prepared")


def proposal_conversations(task, pool: list, n: int) -> list[list[dict]]:
    """`n` proposal prompts of the `novel` kind, each with its own seed examples (seeded, so every
    benchmark that calls this decodes the same prompts)."""
    rng = random.Random(0)
    return [task.proposal_messages("novel", task.pick_seeds("novel", pool, rng), 10) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=300)
    args = parser.parse_args()
    params = load_params()
    task = make_task(params.task, PREPARED / RESOURCES)
    conversations = proposal_conversations(task, read_examples(PREPARED / TEACHER_VAL), args.prompts)
    task.close()
    runtime = LlamaRuntime(
        resolve_gguf(params.teacher.model), n_ctx=params.teacher.n_ctx, threads=params.teacher.threads, slots=args.slots
    )
    try:
        sampling = [Sampling(temperature=0.9, seed=i, max_tokens=args.max_tokens) for i in range(args.prompts)]
        start = time.perf_counter()
        done = runtime.chat(conversations, sampling)
        seconds = time.perf_counter() - start
    finally:
        runtime.close()
    tokens = sum(c.completion_tokens for c in done)
    print(
        f"prompts={args.prompts} slots={args.slots} seconds={seconds:.1f} tokens={tokens} "
        f"tokens_per_s={tokens / seconds:.1f}"
    )


if __name__ == "__main__":
    main()
