"""Stage reference: the models training does not change, the base and the teacher, graded on the
test split by the one harness, both on llama.cpp when local. It does not depend on `train`, so a
training change never re-grades them.

- The base is models/base/base-f16.gguf (export_base), graded under the teacher's few-shot prompt
  and the student's zero-shot one; its reported score is the better.
- The teacher goes through the teacher client (cached and budgeted, batched when local). A local
  teacher's latency is measured one question at a time, warm, for the report's speed comparison.

Outputs data/eval/reference.json (metrics entries, model specs, teacher usage and speed) and
data/eval/reference_predictions.jsonl (every graded answer).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

from distill.config import load_params
from distill.evaluation.run import evaluate_models, test_examples
from distill.evaluation.speed import gguf_latency
from distill.inference.base import ChatModel
from distill.inference.llamacpp import LlamaCppChat
from distill.io import read_json, write_json, write_jsonl
from distill.layouts import (
    BASE,
    BASE_MANIFEST,
    PREPARED,
    REFERENCE,
    REFERENCE_PREDICTIONS,
    RESOURCES,
    teacher_cache,
)
from distill.models import GGUFSource, resolve_gguf, resolve_param
from distill.tasks import make_task
from distill.teachers import make_client
from distill.teachers.chat import TeacherChat
from stages import run_stage


def main() -> None:
    params = load_params()
    ev = params.evaluate
    examples = test_examples(ev, PREPARED)
    base_gguf = BASE / read_json(BASE / BASE_MANIFEST)["gguf"]  # written by export_base

    def one_at_a_time() -> Iterator[tuple[str, ChatModel]]:
        """Each model built when it is graded and closed before the next loads."""
        base = LlamaCppChat(
            "base",
            GGUFSource(path=base_gguf),
            n_ctx=params.export.n_ctx,
            threads=ev.threads,
            max_tokens=ev.max_new_tokens,
            slots=ev.batch_size,
        )
        with closing(base):
            yield "base", base
        client = make_client(params.teacher, teacher_cache("evaluate"))
        with closing(TeacherChat("teacher", client, ev.max_new_tokens)) as teacher:
            yield "teacher", teacher

    with make_task(params.task, PREPARED / RESOURCES) as task, closing(one_at_a_time()) as loaded:
        # closing(): on an error mid-way, the model in use is closed at once, not at garbage collection
        models, records, usage = evaluate_models(loaded, task, examples, ev)
        teacher_speed = None
        if params.teacher.provider == "llamacpp":
            source = resolve_param("teacher.model", resolve_gguf, params.teacher.model)
            teacher_speed = gguf_latency(source, task, examples, ev, params.teacher.n_ctx, few_shot=True)
    reference = {
        "task": params.task.name,
        "n": len(examples),
        "models": models,
        "model_specs": {
            "base": f"{params.student.model} (f16 GGUF)",
            "teacher": f"{params.teacher.provider}:{params.teacher.model}",
        },
        "teacher_usage": usage.get("teacher"),
        "teacher_speed": teacher_speed,
    }
    write_jsonl(REFERENCE_PREDICTIONS, records)
    write_json(REFERENCE, reference)
    for name, m in models.items():
        low, high = m["ci95"]
        print(f"{name:>8}: execution accuracy {m['execution_accuracy']:.1%} (95% CI {low:.1%}–{high:.1%}, n={m['n']})")


if __name__ == "__main__":
    run_stage(main, "reference")
