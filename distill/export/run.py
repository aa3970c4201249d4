"""The export stage's work: the trained student as merged HF weights, a LoRA adapter (peft and
GGUF), GGUF f16 plus quantizations, an Ollama Modelfile, and the prompt opening they all need."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from tqdm.auto import tqdm

from distill.card import load_card
from distill.config import ExportConfig
from distill.export.llama_cpp import convert_hf, convert_lora, quantize
from distill.export.merge import is_adapter, save_adapter, save_merged
from distill.export.modelfile import chat_format, render_modelfile
from distill.export.prompt import PromptSpec, save_prompt_spec
from distill.io import read_json, write_json, write_text
from distill.layouts import (
    BASE_GGUF,
    BASE_MANIFEST,
    EXPORT_MANIFEST,
    GGUF_DIR,
    HF_DIR,
    LORA_DIR,
    LORA_GGUF,
    MODELFILE,
    gguf_name,
)


def read_manifest(export_dir: Path) -> dict:
    """The export stage's manifest (export.json): what was written, the GGUF types, the Modelfile's GGUF."""
    return read_json(Path(export_dir) / EXPORT_MANIFEST)


def gguf_files(export_dir: Path) -> dict[str, Path]:
    """Every exported full-model GGUF by its type (f16 first), as the manifest lists them."""
    manifest = read_manifest(export_dir)
    return {kind: Path(export_dir) / GGUF_DIR / gguf_name(kind) for kind in manifest["gguf_types"]}


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export_base(checkpoint: str, out_dir: Path, model: str) -> dict:
    """The base (the student's starting weights, `checkpoint`: a folder or hub id) exported the
    way the trained student is: saved as an fp32 HF checkpoint (`save_merged`), then converted
    to an f16 GGUF, `out_dir`/base-f16.gguf. So base and student are graded on the same runtime
    from the same conversion. `model` is the spec it came from (`student.model`), recorded in the
    manifest written beside it (base.json), which is returned; no machine-specific path goes in."""
    out_dir = Path(out_dir)
    # The fp32 copy (about 2 GB for a 0.5B model) goes beside the output, not into a RAM-backed /tmp.
    with tempfile.TemporaryDirectory(prefix=".distill-base-", dir=out_dir.parent) as work:
        hf_dir = save_merged(Path(checkpoint), Path(work) / HF_DIR)
        gguf = convert_hf(hf_dir, out_dir / BASE_GGUF)
    manifest = {"model": model, "gguf": BASE_GGUF, "bytes": gguf.stat().st_size, "sha256": _sha256(gguf)}
    write_json(out_dir / BASE_MANIFEST, manifest)
    return manifest


def export_student(student_dir: Path, spec: PromptSpec, config: ExportConfig, num_predict: int, out_dir: Path) -> dict:
    """Write every export format into `out_dir` (a staging folder); returns the manifest.
    `num_predict` is the answer-length cap evaluation used, written into the Modelfile."""
    from distill.models import resolve_hf

    out_dir = Path(out_dir)
    base_model = load_card(student_dir)["base_model"]
    adapter = is_adapter(student_dir)
    # merge, gguf f16, each quantization, the Modelfile, and the adapter when there is one
    bar = tqdm(total=3 + len(config.quantizations) + adapter, desc="export", unit="step")

    bar.set_postfix_str("merge")
    hf_dir = save_merged(student_dir, out_dir / HF_DIR)
    bar.update()
    if adapter:
        bar.set_postfix_str("lora adapter")
        save_adapter(student_dir, out_dir / LORA_DIR)
        convert_lora(out_dir / LORA_DIR, Path(resolve_hf(base_model)), out_dir / GGUF_DIR / LORA_GGUF)
        bar.update()
    bar.set_postfix_str("gguf f16")
    f16 = convert_hf(hf_dir, out_dir / GGUF_DIR / gguf_name("f16"))
    bar.update()
    for kind in config.quantizations:
        bar.set_postfix_str(f"quantize {kind}")
        quantize(f16, out_dir / GGUF_DIR / gguf_name(kind), kind)
        bar.update()

    bar.set_postfix_str("modelfile")
    from transformers import AutoTokenizer

    fmt = chat_format(AutoTokenizer.from_pretrained(str(hf_dir)))
    served = config.quantizations[0] if config.quantizations else "f16"
    modelfile = render_modelfile(f"{GGUF_DIR}/{gguf_name(served)}", fmt, spec.prefix, config.n_ctx, num_predict)
    write_text(out_dir / MODELFILE, modelfile)
    save_prompt_spec(spec, out_dir)
    bar.update()
    bar.close()

    files = sorted(p for p in out_dir.rglob("*") if p.is_file())
    manifest = {
        "base_model": base_model,
        "adapter": adapter,
        "gguf_types": ["f16", *config.quantizations],
        "modelfile_gguf": gguf_name(served),
        "chat_format": {"wrappers": fmt.wrappers, "generation_prefix": fmt.generation_prefix, "stops": list(fmt.stops)},
        "files": {
            str(p.relative_to(out_dir)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
            for p in files
            if p.suffix in (".gguf", ".safetensors")
        },
    }
    write_json(out_dir / EXPORT_MANIFEST, manifest)
    return manifest
