"""Inference speed of the exported student: GGUF through llama.cpp against the merged HF model,
and the student GGUF's latency against the teacher's.

    python benchmarks/inference.py [--questions 16] [--export-dir models/export]

Every model answers the same first N test questions one at a time (batch 1, greedy, the prompt
evaluate gives it: the students the student prompt, the teacher its few-shot one; the same answer
cap), after one warm-up answer; both runtimes reuse the shared prompt prefix.
Speed is end-to-end: generated tokens over wall time, the question's own prompt tokens included.
Printed, from one run:
- tok/s of the merged HF student (fp32, transformers) and of each exported GGUF; the ratio of
  q4_k_m and q8_0 to HF (target >= 3x);
- seconds per answer of the student GGUF against the teacher (goal <= 0.2x), beside their
  execution-accuracy ratio from metrics/eval.json (its `gguf` files and the teacher; goal >= 0.9x).
Needs `dvc repro` first (the export and the accuracy numbers).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.config import load_params  # noqa: E402
from distill.evaluation.run import test_examples  # noqa: E402
from distill.evaluation.speed import decode_speed  # noqa: E402
from distill.export.run import gguf_files  # noqa: E402
from distill.inference.hf import HFChat  # noqa: E402
from distill.inference.llamacpp import LlamaCppChat  # noqa: E402
from distill.layouts import (
    HF_DIR,  # noqa: E402
    RESOURCES,  # noqa: E402
)
from distill.models import GGUFSource, resolve_gguf  # noqa: E402
from distill.tasks import make_task  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def measure(build, task, examples, few_shot: bool) -> dict:
    model = build()
    try:
        return decode_speed(model, task, examples, few_shot=few_shot)
    finally:
        if hasattr(model, "close"):
            model.close()
        del model
        gc.collect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=16, help="test questions answered by each model")
    parser.add_argument("--export-dir", default=str(REPO / "models/export"))
    args = parser.parse_args()

    params = load_params(REPO / "params.yaml")
    ev, n_ctx = params.evaluate, params.export.n_ctx
    prepared = REPO / "data/prepared"
    examples = test_examples(params.evaluate, prepared)[: args.questions]
    export_dir = Path(args.export_dir)
    task = make_task(params.task, prepared / RESOURCES)

    def gguf(name: str, source: GGUFSource):
        return lambda: LlamaCppChat(name, source, n_ctx=n_ctx, threads=ev.threads, max_tokens=ev.max_new_tokens)

    builds = {
        "student HF fp32": lambda: HFChat(
            "hf", str(export_dir / HF_DIR), batch_size=1, max_new_tokens=ev.max_new_tokens, threads=ev.threads
        ),
        **{f"student {kind}": gguf(kind, GGUFSource(path=path)) for kind, path in gguf_files(export_dir).items()},
        "teacher": gguf("teacher", resolve_gguf(params.teacher.model)),
    }
    results = {}
    try:
        for name, build in builds.items():
            print(f"measuring {name} on {len(examples)} questions …", flush=True)
            # Each model under its own prompt: the students the short one, the teacher its few-shot one.
            results[name] = measure(build, task, examples, few_shot=name == "teacher")
    finally:
        task.close()

    hf = results["student HF fp32"]["tokens_per_s"]
    print(f"\n{'model':<18} {'tok/s':>8} {'s/answer':>9} {'vs HF':>7}")
    for name, r in results.items():
        print(f"{name:<18} {r['tokens_per_s']:>8.1f} {r['seconds_per_answer']:>9.3f} {r['tokens_per_s'] / hf:>6.2f}x")
    for kind in ("q4_k_m", "q8_0"):
        if f"student {kind}" in results:
            ratio = results[f"student {kind}"]["tokens_per_s"] / hf
            print(f"{kind} vs HF fp32: {ratio:.2f}x tokens/s (target >= 3x): {'met' if ratio >= 3 else 'NOT met'}")

    evaluated = json.loads((REPO / "metrics/eval.json").read_text())
    exported = evaluated.get("gguf") or {}
    teacher_acc = evaluated["models"]["teacher"]["execution_accuracy"]
    teacher_s = results["teacher"]["seconds_per_answer"]
    for kind in ("q4_k_m", "q8_0"):
        name = f"student-{kind}.gguf"
        if f"student {kind}" not in results or name not in exported:
            continue
        latency = results[f"student {kind}"]["seconds_per_answer"] / teacher_s
        accuracy = exported[name]["execution_accuracy"] / teacher_acc if teacher_acc else 0.0
        print(
            f"student {kind} vs teacher: {latency:.2f}x the time per answer (goal <= 0.2x), "
            f"{accuracy:.2f}x the execution accuracy (goal >= 0.9x): "
            f"{'met' if latency <= 0.2 and accuracy >= 0.9 else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
