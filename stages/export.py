"""Stage export: the trained student as files people deploy.

Outputs models/export/: hf/ (merged fp32 safetensors + tokenizer), lora/ (the peft adapter, when
trained with LoRA), gguf/ (student-f16.gguf, one file per export.quantizations, and the adapter
as student-lora-f16.gguf), Modelfile (Ollama), prompt.json (the task's prompt opening for
`python -m distill serve/ask`) and export.json (what was written, with sizes and sha256).
"""

from __future__ import annotations

from pathlib import Path

from distill.config import load_params
from distill.examples import read_examples
from distill.export.prompt import prompt_spec
from distill.export.run import export_student
from distill.io import atomic_dir
from distill.preparation import RESOURCES, TEST
from distill.tasks import make_task
from stages import run_stage

PREPARED = Path("data/prepared")
STUDENT = Path("models/student")
OUT_DIR = Path("models/export")


def main() -> None:
    params = load_params()
    task = make_task(params.task, PREPARED / RESOURCES)
    try:
        # Serving and the Modelfile ask new questions in the context of the first test question
        # (its database, for text2sql).
        spec = prompt_spec(task, read_examples(PREPARED / TEST)[0])
    finally:
        task.close()
    with atomic_dir(OUT_DIR) as staging:
        manifest = export_student(STUDENT, spec, params.export, params.evaluate.max_new_tokens, staging)
    for name, info in manifest["files"].items():
        print(f"export: {OUT_DIR / name} ({info['bytes'] / 2**20:.1f} MiB)")
    print(f"export: {OUT_DIR / 'Modelfile'} → `ollama create distill-student -f {OUT_DIR / 'Modelfile'}`")


if __name__ == "__main__":
    run_stage(main, "export")
