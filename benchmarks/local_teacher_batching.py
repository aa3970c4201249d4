"""The in-process teacher one request at a time against the batched llama.cpp runtime.

    python benchmarks/local_teacher_batching.py [--prompts 64] [--slots 16] [--runs 3]

Both arms answer the same test-split questions with the teacher's full prompt (greedy, the same
`evaluate.max_new_tokens`, stops and threads):
- sequential: llama-cpp-python's `create_chat_completion`, one call at a time, reusing the KV cache
  of the prompt prefix shared with the previous call (the path the teacher took before);
- batched: `LlamaRuntime` with `--slots` sequences per decode step and a shared prefix.
Each arm is warmed first; then the arms alternate, `--runs` times each, and the median is
reported. Answers are compared token for token (text) and by execution result (the task's
equality rule). Prints one line ending in `speedup=`.
Needs `dvc repro prepare` (data/prepared/) and the bundled teacher.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.config import load_params  # noqa: E402
from distill.examples import read_examples  # noqa: E402
from distill.inference.llamacpp import LlamaRuntime, Sampling, load_llama  # noqa: E402
from distill.layouts import RESOURCES, TEST  # noqa: E402
from distill.models import resolve_gguf  # noqa: E402
from distill.tasks import make_task  # noqa: E402

PREPARED = Path("data/prepared")


def sequential(llm, conversations: list[list[dict]], max_tokens: int) -> list[str]:
    return [
        llm.create_chat_completion(messages=c, temperature=0.0, max_tokens=max_tokens)["choices"][0]["message"][
            "content"
        ]
        or ""
        for c in conversations
    ]


def batched(runtime: LlamaRuntime, conversations: list[list[dict]], max_tokens: int) -> list[str]:
    return [c.text for c in runtime.chat(conversations, [Sampling(max_tokens=max_tokens)] * len(conversations))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = load_params(args.params)
    teacher, ev = params.teacher, params.evaluate
    task = make_task(params.task, PREPARED / RESOURCES)
    examples = read_examples(PREPARED / TEST)[: args.prompts]
    conversations = [task.messages(e) for e in examples]
    source = resolve_gguf(teacher.model)
    llm = load_llama(source, n_ctx=teacher.n_ctx, threads=teacher.threads)
    runtime = LlamaRuntime(source, n_ctx=teacher.n_ctx, threads=teacher.threads, slots=args.slots)
    warm = conversations[:2]
    sequential(llm, warm, ev.max_new_tokens)
    batched(runtime, warm, ev.max_new_tokens)
    times: dict[str, list[float]] = {"sequential": [], "batched": []}
    answers: dict[str, list[str]] = {}
    for run in range(args.runs):
        for arm in ("sequential", "batched") if run % 2 == 0 else ("batched", "sequential"):
            start = time.perf_counter()
            if arm == "sequential":
                out = sequential(llm, conversations, ev.max_new_tokens)
            else:
                out = batched(runtime, conversations, ev.max_new_tokens)
            times[arm].append(time.perf_counter() - start)
            answers.setdefault(arm, out)
            print(f"run {run + 1} {arm}: {times[arm][-1]:.1f}s", file=sys.stderr, flush=True)
    runtime.close()
    llm.close()
    seq, bat = answers["sequential"], answers["batched"]
    identical = sum(a == b for a, b in zip(seq, bat, strict=True))
    same_result = 0
    for example, a, b in zip(examples, seq, bat, strict=True):
        oa = task.answer_outcome(task.extract(a, example), example)
        ob = task.answer_outcome(task.extract(b, example), example)
        same_result += (oa is None and ob is None) or (
            oa is not None and ob is not None and task.outcomes_agree(oa, ob)
        )
    task.close()
    n = len(conversations)
    t_seq, t_bat = statistics.median(times["sequential"]), statistics.median(times["batched"])
    print(
        f"prompts={n} slots={args.slots} runs={args.runs} threads={teacher.threads} "
        f"sequential_s={t_seq:.1f} batched_s={t_bat:.1f} "
        f"sequential_per_min={60 * n / t_seq:.1f} batched_per_min={60 * n / t_bat:.1f} "
        f"token_identical={identical / n:.3f} same_execution_result={same_result / n:.3f} "
        f"speedup={t_seq / t_bat:.2f}"
    )


if __name__ == "__main__":
    main()
