"""Where the batched runtime's time goes: `llama_decode` calls grouped by how many tokens they held.

    python benchmarks/decode_profile.py [--workload proposals|answers] [--prompts 16] [--slots 16]
                                        [--max-tokens 150]

- proposals: the `--prompts` proposal prompts of `long_outputs.py` (the `novel` kind, each with its
  own seed examples), sampled at 0.9 (seed = index) up to `--max-tokens`: generate's first phase;
- answers: the first `--prompts` test questions with the teacher's full prompt, greedy, up to
  `evaluate.max_new_tokens`: generate's labeling phase, the gate and evaluate.
Prints the wall time, the decode time, the tokens generated, and per group of decode calls (by
tokens held, in steps of 16; prompt chunks reach 512) the calls, mean seconds and tokens/s.
Needs `dvc repro prepare` (data/prepared/) and the bundled teacher.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.long_outputs import proposal_conversations  # noqa: E402
from distill.config import load_params  # noqa: E402
from distill.examples import read_examples  # noqa: E402
from distill.inference.llamacpp import LlamaRuntime, Sampling  # noqa: E402
from distill.layouts import RESOURCES, TEACHER_VAL, TEST  # noqa: E402
from distill.models import resolve_gguf  # noqa: E402
from distill.tasks import make_task  # noqa: E402

PREPARED = Path("data/prepared")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("proposals", "answers"), default="proposals")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=150)
    args = parser.parse_args()
    params = load_params()
    task = make_task(params.task, PREPARED / RESOURCES)
    if args.workload == "proposals":
        conversations = proposal_conversations(task, read_examples(PREPARED / TEACHER_VAL), args.prompts)
        sampling = [Sampling(temperature=0.9, seed=i, max_tokens=args.max_tokens) for i in range(args.prompts)]
    else:
        conversations = [task.messages(e) for e in read_examples(PREPARED / TEST)[: args.prompts]]
        sampling = [Sampling(max_tokens=params.evaluate.max_new_tokens)] * len(conversations)
    task.close()
    teacher = params.teacher
    runtime = LlamaRuntime(resolve_gguf(teacher.model), n_ctx=teacher.n_ctx, threads=teacher.threads, slots=args.slots)
    try:
        runtime.chat(conversations[:1], [Sampling(max_tokens=2)])  # warm: weights paged in
        runtime.decode_log.clear()
        start = time.perf_counter()
        done = runtime.chat(conversations, sampling)
        seconds = time.perf_counter() - start
        calls = list(runtime.decode_log)
    finally:
        runtime.close()
    print(
        f"workload={args.workload} prompts={len(conversations)} slots={args.slots} seconds={seconds:.1f} "
        f"decode_s={sum(s for _, s in calls):.1f} decode_calls={len(calls)} "
        f"generated_tokens={sum(c.completion_tokens for c in done)} "
        f"prompt_tokens={sum(c.prompt_tokens for c in done)}"
    )
    groups: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for tokens, s in calls:
        groups[tokens // 16 * 16].append((tokens, s))
    for low in sorted(groups):
        group = groups[low]
        tokens, s = sum(t for t, _ in group), sum(s for _, s in group)
        mean = s / len(group)
        print(f"  {low:>3}-{low + 15:<3} tokens: calls={len(group):4d} mean_s={mean:.3f} tokens_per_s={tokens / s:.0f}")


if __name__ == "__main__":
    main()
