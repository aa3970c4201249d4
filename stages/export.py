"""Stage export: the trained student as files people deploy.

Outputs models/export/: hf/ (merged fp32 safetensors + tokenizer), lora/ (the peft adapter, when
trained with LoRA), gguf/ (student-f16.gguf, one file per export.quantizations, and the adapter
as student-lora-f16.gguf), Modelfile (Ollama), prompt.json (the task's prompt opening for
`python -m distill serve/ask`) and export.json (what was written, with sizes and sha256).
"""

from __future__ import annotations

from distill.config import load_params
from distill.examples import read_examples
from distill.export.prompt import prompt_spec
from distill.export.run import export_student
from distill.io import atomic_dir
from distill.layouts import EXPORT, MODELFILE, PREPARED, RESOURCES, STUDENT, TEST
from distill.tasks import make_task
from stages import run_stage


def main() -> None:
    params = load_params()
    with make_task(params.task, PREPARED / RESOURCES) as task:
        # Serving and the Modelfile ask new questions in the context of the first test question
        # (its database, for text2sql).
        spec = prompt_spec(task, read_examples(PREPARED / TEST)[0])
    with atomic_dir(EXPORT) as staging:
        manifest = export_student(STUDENT, spec, params.export, params.evaluate.max_new_tokens, staging)
    for name, info in manifest["files"].items():
        print(f"export: {EXPORT / name} ({info['bytes'] / 2**20:.1f} MiB)")
    print(f"export: {EXPORT / MODELFILE} → `ollama create distill-student -f {EXPORT / MODELFILE}`")


if __name__ == "__main__":
    run_stage(main, "export")
