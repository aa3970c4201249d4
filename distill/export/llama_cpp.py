"""llama.cpp's own converters and quantizer, as the installed llama-cpp-python ships them.

The HF→GGUF and LoRA→GGUF converters are scripts in the llama-cpp-python sdist
(`vendor/llama.cpp/`), not in its wheel, and no maintained package installs them. So the sdist of
the installed version is fetched once with pip (from the same index `pip install` used) and the
few files the converters need are unpacked into `$DISTILL_HOME/llama.cpp/<version>/`. Point
`DISTILL_LLAMA_CPP_DIR` at a llama.cpp checkout to use that instead (offline machines).

The converters run as subprocesses with the vendored `gguf-py`, which matches them; the installed
`gguf` package stays untouched. Quantization runs in-process through llama-cpp-python's C API.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from distill.config import QUANTIZATIONS
from distill.errors import ExportError
from distill.io import atomic_dir, atomic_path
from distill.models import cache_dir

# What the converters import from the llama.cpp tree; nothing else is unpacked.
_NEEDED = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/")
_CONVERTER_TIMEOUT_S = 3600


def _version() -> str:
    return importlib.metadata.version("llama-cpp-python")


def _unpack(sdist: Path, dest: Path) -> None:
    with tarfile.open(sdist) as tar:
        members = []
        for m in tar.getmembers():
            parts = m.name.split("/", 3)  # <pkg>-<ver>/vendor/llama.cpp/<rest>
            if len(parts) == 4 and parts[1:3] == ["vendor", "llama.cpp"] and parts[3].startswith(_NEEDED):
                if not (m.isfile() or m.isdir()):
                    continue  # links have no place in a converter tree
                m.name = parts[3]
                members.append(m)
        if not any(m.name == "convert_hf_to_gguf.py" for m in members):
            raise ExportError(f"{sdist.name} has no vendor/llama.cpp/convert_hf_to_gguf.py")
        tar.extractall(dest, members=members, filter="data")


def converter_dir() -> Path:
    """A llama.cpp tree with the converters, fetched and unpacked on first use."""
    override = os.environ.get("DISTILL_LLAMA_CPP_DIR")
    if override:
        path = Path(override)
        if not (path / "convert_hf_to_gguf.py").is_file():
            raise ExportError(f"DISTILL_LLAMA_CPP_DIR={override}: no convert_hf_to_gguf.py there")
        return path
    version = _version()
    path = cache_dir() / "llama.cpp" / version
    if (path / "convert_hf_to_gguf.py").is_file():
        return path
    print(f"export: fetching the llama-cpp-python {version} sdist once for llama.cpp's converters (~75 MB)")
    with tempfile.TemporaryDirectory(prefix="distill-sdist-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet"]
        done = subprocess.run([*cmd, "-d", tmp, f"llama-cpp-python=={version}"], capture_output=True, text=True)
        sdists = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if done.returncode != 0 or not sdists:
            raise ExportError(
                f"could not fetch the llama-cpp-python {version} sdist with pip (needed for llama.cpp's "
                f"converters): {done.stderr.strip()[-500:]}\nOffline, set DISTILL_LLAMA_CPP_DIR to a llama.cpp "
                "checkout of the matching version."
            )
        with atomic_dir(path) as staging:
            _unpack(sdists[0], staging)
    return path


def _run_converter(script: str, args: list[str], what: str) -> None:
    tree = converter_dir()
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}  # use the vendored gguf-py
    done = subprocess.run(
        [sys.executable, str(tree / script), *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=_CONVERTER_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise ExportError(f"{what}: {script} failed (exit {done.returncode}):\n{done.stderr.strip()[-2000:]}")


def convert_hf(hf_dir: Path, out_file: Path, outtype: str = "f16") -> Path:
    """An HF checkpoint folder → one GGUF file (chat template and tokenizer included)."""
    with atomic_path(out_file) as tmp:
        _run_converter(
            "convert_hf_to_gguf.py",
            [str(Path(hf_dir).resolve()), "--outtype", outtype, "--outfile", str(tmp.resolve())],
            f"convert {hf_dir} to GGUF",
        )
    return out_file


def convert_lora(adapter_dir: Path, base_dir: Path, out_file: Path, outtype: str = "f16") -> Path:
    """A peft LoRA adapter → a GGUF adapter that `Llama(lora_path=…)` applies to the base GGUF."""
    with atomic_path(out_file) as tmp:
        _run_converter(
            "convert_lora_to_gguf.py",
            [
                str(Path(adapter_dir).resolve()),
                "--base",
                str(Path(base_dir).resolve()),
                "--outtype",
                outtype,
                "--outfile",
                str(tmp.resolve()),
            ],
            f"convert the LoRA adapter {adapter_dir} to GGUF",
        )
    return out_file


def quantize(src: Path, dst: Path, kind: str, threads: int = 2) -> Path:
    """Quantize a GGUF with llama.cpp's quantizer (`kind` from QUANTIZATIONS)."""
    import llama_cpp

    if kind not in QUANTIZATIONS:
        raise ExportError(f"unknown quantization {kind!r}; known: {', '.join(QUANTIZATIONS)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}")
    params.nthread = threads
    # llama.cpp logs a line per tensor; keep errors only (its Python logger filters the C log).
    log = logging.getLogger("llama-cpp-python")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with atomic_path(dst) as tmp:
            rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
            if rc != 0:  # raised inside, so the partial file is never renamed into place
                raise ExportError(f"quantize {src} to {kind} failed (llama.cpp returned {rc})")
    finally:
        log.setLevel(level)
    return dst
