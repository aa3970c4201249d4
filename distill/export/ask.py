"""Asking the exported model one question, prompted and graded-for-display as evaluation does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from distill.evaluation.harness import NO_REPAIR, Repair, generate_answers
from distill.export.llama_cpp import ExportError
from distill.export.prompt import PromptSpec
from distill.inference.base import ChatModel
from distill.io import read_json
from distill.layouts import EXPORT_MANIFEST, GGUF_DIR, gguf_name
from distill.tasks.base import Grading


@dataclass(frozen=True)
class Answer:
    text: str
    """The model's raw answer."""
    prediction: str
    """What the task extracted from it (the SQL, the code)."""
    shown: str
    """What the task shows for it (the query's rows)."""
    seconds: float
    repairs: int = 0
    """Repair turns it took (an answer that could not run went back with its error)."""


def exported_gguf(export_dir: Path, name: str | None = None) -> Path:
    """An exported GGUF: `name` (a file in gguf/ or a type such as q4_k_m), else the Modelfile's."""
    export_dir = Path(export_dir)
    manifest_path = export_dir / EXPORT_MANIFEST
    if not manifest_path.is_file():
        raise ExportError(f"{manifest_path} not found: run `dvc repro export` first")
    manifest = read_json(manifest_path)
    if not isinstance(manifest, dict) or not {"modelfile_gguf", "gguf_types"} <= manifest.keys():
        raise ExportError(f"{manifest_path}: not an export manifest; run `dvc repro export` again")
    if name is None:
        name = manifest["modelfile_gguf"]
    elif name in manifest["gguf_types"]:
        name = gguf_name(name)
    path = export_dir / GGUF_DIR / name
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in (export_dir / GGUF_DIR).glob("*.gguf")))
        raise ExportError(f"{path} not found; exported: {known or 'none'}")
    return path


def ask(
    model: ChatModel,
    task: Grading,
    spec: PromptSpec,
    question: str,
    repair: Repair = NO_REPAIR,
) -> Answer:
    """One answer, with the repair turns evaluation gives (`evaluate.repair_turns`)."""
    example = spec.example(question)
    (answer,) = generate_answers(model, task, [example], repair=repair, progress=False, few_shot=False)
    prediction = task.extract(answer.text, example)
    return Answer(answer.text, prediction, task.show_answer(prediction, example), answer.seconds, answer.repairs)
