"""The trained student as standalone files: merged HF weights, and the LoRA adapter on its own."""

from __future__ import annotations

import shutil
from pathlib import Path

from distill.io import atomic_dir
from distill.layouts import ADAPTER_CONFIG

ADAPTER_FILES = (ADAPTER_CONFIG, "adapter_model.safetensors")


def is_adapter(student_dir: Path) -> bool:
    return (Path(student_dir) / ADAPTER_CONFIG).is_file()


def save_merged(student_dir: Path, out_dir: Path) -> Path:
    """The student with any LoRA adapter merged in, saved as an fp32 HF checkpoint (safetensors)
    with its tokenizer and chat template, as one self-contained folder: what the GGUFs are
    converted from, and what the transformers check in evaluation loads."""
    from transformers import AutoTokenizer

    from distill.inference.hf import load_causal_lm

    model = load_causal_lm(str(student_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(student_dir))
    with atomic_dir(out_dir) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return Path(out_dir)


def save_adapter(student_dir: Path, out_dir: Path) -> Path:
    """The peft adapter alone (config + weights), loadable with `PeftModel.from_pretrained`."""
    with atomic_dir(out_dir) as staging:
        for name in ADAPTER_FILES:
            shutil.copy2(Path(student_dir) / name, staging / name)
    return Path(out_dir)
