"""Where every artifact lives and what its files are called: the one home for the paths that
dvc.yaml, the stages and the library share.

Folders (`PREPARED`, `EXPORT`, …) are relative to the repository root, where DVC runs the stages;
they are the `outs:` of dvc.yaml. File names inside a folder are separate constants, because the
library works on any folder (a staging folder, a test's temp folder) with the same layout. Every
file a stage hands to another is named here once; formats are described beside their name.
"""

from __future__ import annotations

from pathlib import Path

# -- data/prepared (stage prepare) --------------------------------------------------------------
PREPARED = Path("data/prepared")
RESOURCES = "resources"
"""The task's resources folder (text2sql: one SQLite database per folder); also under data/synthetic
for the databases generation invents."""
TEACHER_VAL = "teacher_val.jsonl"
"""Seeds held out to gate the teacher, one `Example` a line."""
TEST = "test.jsonl"
"""The test split every model is graded on, one `Example` a line."""

# -- data/synthetic (generate), data/validated (validate) ----------------------------------------
SYNTHETIC = Path("data/synthetic")
RAW = "raw.jsonl"
"""Kept synthetic examples, one `Example` a line."""
DROPPED = "dropped.jsonl"
"""What generation dropped, one rejection a line: example, stage and reason."""
VALIDATED = Path("data/validated")
TRAIN, VAL = "train.jsonl", "val.jsonl"
"""The training split and the validation split (best epoch, early signal), one `Example` a line."""
SPLIT_FILES = {"train": TRAIN, "val": VAL}
REJECTED = "rejected.jsonl"
"""What validation rejected, one rejection a line."""

# -- data/teacher_logits (teacher_logits) ----------------------------------------------------------
TEACHER_LOGITS = Path("data/teacher_logits")
SOFT_LABELS_MANIFEST = "manifest.json"
"""Status (`ok`, `skipped`, `sft_fallback`), reason, teacher, student, top-k and the example ids
per split; beside it one `soft_labels_file(split)` per split (distill/training/soft_labels.py)."""


def soft_labels_file(split: str) -> str:
    """One split's soft labels: token ids, offsets and the teacher's top-k (safetensors)."""
    return f"{split}.safetensors"


# -- models/student (train) ---------------------------------------------------------------------
STUDENT = Path("models/student")
STUDENT_CARD = "distill_student.json"
"""The student card (distill/card.py): base model spec, checkpoint, method and loss."""
ADAPTER_CONFIG = "adapter_config.json"
"""peft's file: the student folder holds a LoRA adapter rather than full weights."""

# -- models/export (export) and models/base (export_base) ---------------------------------------
EXPORT = Path("models/export")
HF_DIR, LORA_DIR, GGUF_DIR = "hf", "lora", "gguf"
"""Folders: the merged transformers fp32 checkpoint, the peft adapter, every GGUF."""
MODELFILE = "Modelfile"
EXPORT_MANIFEST = "export.json"
"""What was written (bytes, sha256), the GGUF types, the Modelfile's GGUF and the chat format."""
PROMPT_FILE = "prompt.json"
"""The task's prompt opening every exported model needs (distill/export/prompt.py)."""
LORA_GGUF = "student-lora-f16.gguf"
BASE = Path("models/base")
BASE_GGUF = "base-f16.gguf"
BASE_MANIFEST = "base.json"
"""{model, gguf, bytes, sha256} of the base's f16 GGUF."""


def gguf_name(kind: str) -> str:
    """The exported student GGUF of type `kind` (f16, q8_0, …), inside GGUF_DIR."""
    return f"student-{kind}.gguf"


# -- data/eval (reference, evaluate, report) ------------------------------------------------------
EVAL = Path("data/eval")
REFERENCE = EVAL / "reference.json"
REFERENCE_PREDICTIONS = EVAL / "reference_predictions.jsonl"
STUDENT_RESULTS = EVAL / "student.json"
STUDENT_PREDICTIONS = EVAL / "student_predictions.jsonl"
PREDICTIONS = EVAL / "predictions.jsonl"
"""Every graded answer of every model, one prediction a line."""

# -- teacher caches, persistent across runs -----------------------------------------------------
TEACHER_CACHE = Path("data/teacher_cache")


def teacher_cache(stage: str) -> Path:
    """The response cache of the stage that calls the teacher (gate, generate, evaluate)."""
    return TEACHER_CACHE / stage


# -- metrics/ and dvclive/ ----------------------------------------------------------------------
METRICS = Path("metrics")
EVAL_METRICS = METRICS / "eval.json"
REPORT_MD = METRICS / "report.md"
REPORT_HTML = METRICS / "report.html"
ACCURACY_PLOT = METRICS / "accuracy.json"
DVCLIVE = Path("dvclive")
LOSS_CURVES = {
    "train": DVCLIVE / "plots/metrics/loss.tsv",
    "validation": DVCLIVE / "plots/metrics/eval/loss.tsv",
}
"""dvclive's per-step loss files, by curve."""


def stage_metrics(stage: str) -> Path:
    """metrics/<stage>.json: what stage `stage` reports (prepare, teacher_gate, generate, …)."""
    return METRICS / f"{stage}.json"


def stage_time(stage: str) -> Path:
    """metrics/time/<stage>.json: {"wall_s": seconds}, written by `stages.run_stage`."""
    return METRICS / "time" / f"{stage}.json"
