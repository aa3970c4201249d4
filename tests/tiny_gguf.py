"""A tiny random llama-architecture GGUF chat model for fast tests, and a llama.cpp server around one.

`write_tiny_gguf(path, seed)` writes a ~14.5 MB model (2 layers, n_embd 64, 4 heads / 2 KV heads, FFN 128,
context 512, f16 matrices) whose tokenizer and chat template are copied from the bundled SmolLM2 GGUF, so
llama-cpp-python tokenizes and formats chats (system role included) exactly as it does for the real student.
The outputs are gibberish, but deterministic under greedy decoding. The file depends only on the seed (and
the bundled tokenizer), so callers may cache it; it is written atomically.

`cached_tiny_gguf(seed)` keeps one copy per seed in `$DISTILL_HOME/models`.

`llama_server(model_path)` runs the real llama-cpp-python OpenAI-compatible server on a free local port and
yields its base url (`http://127.0.0.1:PORT/v1`).
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

N_LAYER = 2
N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
N_CTX = 512
SOURCE_ALIAS = "smollm2-135m-instruct"
FORMAT_VERSION = 1
"""Bump when the architecture or weights change, so cached files are rewritten."""


_SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


@functools.cache
def _tokenizer_kvs(source: Path) -> tuple[tuple[str, Any, Any, Any], ...]:
    """Every `tokenizer.*` field of a GGUF file as (key, value, type, array item type), exact value types kept.

    A minimal parser of the GGUF (v2/v3, little-endian) metadata section rather than gguf.GGUFReader, which
    takes ~5 s on the 49k-token vocabulary (it builds numpy views per string); this takes ~0.1 s.
    Strings stay raw bytes, so nothing is decoded and re-encoded. Cached per process.
    """
    from gguf import GGUFValueType

    with source.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        magic, version, _n_tensors, n_kv = struct.unpack_from("<4sIQQ", buf, 0)
        if magic != b"GGUF" or version not in (2, 3):
            raise ValueError(f"{source}: not a little-endian GGUF v2/v3 file")
        pos = 24

        def read(fmt: str) -> Any:
            nonlocal pos
            (value,) = struct.unpack_from("<" + fmt, buf, pos)
            pos += struct.calcsize(fmt)
            return value

        def read_str() -> bytes:
            nonlocal pos
            n = read("Q")
            pos += n
            return bytes(buf[pos - n : pos])

        def read_value(vtype: int) -> Any:
            nonlocal pos
            if vtype == _STRING:
                return read_str()
            if vtype != _ARRAY:
                return read(_SCALAR_FORMATS[vtype])
            item_type, count = read("I"), read("Q")
            if item_type == _STRING:
                return tuple(read_str() for _ in range(count))
            if item_type == _ARRAY:
                raise ValueError(f"{source}: nested GGUF arrays are not supported")
            dtype = np.dtype("<" + _SCALAR_FORMATS[item_type])
            items = np.frombuffer(buf, dtype=dtype, count=count, offset=pos)
            pos += dtype.itemsize * count
            return tuple(items.tolist())

        kvs = []
        for _ in range(n_kv):
            key = read_str().decode("utf-8")
            vtype = read("I")
            sub_type = struct.unpack_from("<I", buf, pos)[0] if vtype == _ARRAY else None
            value = read_value(vtype)
            if key.startswith("tokenizer."):
                kvs.append((key, value, GGUFValueType(vtype), None if sub_type is None else GGUFValueType(sub_type)))
    return tuple(kvs)


def source_gguf() -> Path:
    """The GGUF whose tokenizer and chat template the tiny model copies (the bundled SmolLM2)."""
    from distill.models import BUNDLED, bundled_gguf

    return bundled_gguf(BUNDLED[SOURCE_ALIAS])


def write_tiny_gguf(path: Path, seed: int = 0) -> Path:
    """Write a tiny random llama GGUF with SmolLM2's tokenizer and chat template to `path`; return `path`.

    The bytes depend only on `seed` and the source tokenizer; the file appears atomically (temp file + rename).
    """
    from gguf import GGUFWriter, LlamaFileType

    from distill.io import atomic_path

    path = Path(path)
    tokenizer = _tokenizer_kvs(source_gguf())
    n_vocab = len(next(value for key, value, *_ in tokenizer if key == "tokenizer.ggml.tokens"))

    writer = GGUFWriter(None, "llama")
    writer.add_name(f"tiny-random-llama-seed{seed}")
    writer.add_file_type(LlamaFileType.MOSTLY_F16)
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    for key, value, vtype, sub_type in tokenizer:
        writer.add_key_value(key, list(value) if sub_type is not None else value, vtype, sub_type=sub_type)

    # numpy shapes are (out_features, in_features), as in torch; GGUF stores them reversed (ne0 = in_features).
    rng = np.random.default_rng(seed)
    head_dim = N_EMBD // N_HEAD

    def matrix(rows: int, cols: int, std: float = 0.02) -> np.ndarray:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * std).astype(np.float16)

    def norm() -> np.ndarray:
        return np.ones(N_EMBD, dtype=np.float32)

    writer.add_tensor("token_embd.weight", matrix(n_vocab, N_EMBD, 1.0))
    for i in range(N_LAYER):
        blk = f"blk.{i}"
        writer.add_tensor(f"{blk}.attn_norm.weight", norm())
        writer.add_tensor(f"{blk}.attn_q.weight", matrix(N_HEAD * head_dim, N_EMBD))
        writer.add_tensor(f"{blk}.attn_k.weight", matrix(N_HEAD_KV * head_dim, N_EMBD))
        writer.add_tensor(f"{blk}.attn_v.weight", matrix(N_HEAD_KV * head_dim, N_EMBD))
        writer.add_tensor(f"{blk}.attn_output.weight", matrix(N_EMBD, N_HEAD * head_dim))
        writer.add_tensor(f"{blk}.ffn_norm.weight", norm())
        writer.add_tensor(f"{blk}.ffn_gate.weight", matrix(N_FF, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_up.weight", matrix(N_FF, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_down.weight", matrix(N_EMBD, N_FF))
    writer.add_tensor("output_norm.weight", norm())
    writer.add_tensor("output.weight", matrix(n_vocab, N_EMBD, 0.5))

    with atomic_path(path) as tmp:
        try:
            writer.write_header_to_file(tmp)
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
        finally:
            writer.close()
    return path


def cached_tiny_gguf(seed: int = 0) -> Path:
    """The tiny model for `seed`, written once into the distill cache (`$DISTILL_HOME/models`) and reused."""
    from distill.models import BUNDLED, cache_dir

    name = f"tiny-random-llama-v{FORMAT_VERSION}-{BUNDLED[SOURCE_ALIAS].sha256[:12]}-seed{seed}.gguf"
    path = cache_dir() / "models" / name
    return path if path.is_file() else write_tiny_gguf(path, seed)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def llama_server(
    model_path: Path,
    *,
    n_ctx: int = N_CTX,
    extra_args: Sequence[str] = (),
    timeout_s: float = 30.0,
) -> Iterator[str]:
    """Run `python -m llama_cpp.server` on `model_path` at a free 127.0.0.1 port; yield the `/v1` base url.

    Waits until GET /v1/models answers (at most `timeout_s`); raises RuntimeError with the server's log if it
    exits or does not answer in time. The server is terminated (then killed) on exit.
    """
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--host", "127.0.0.1",
        "--n_ctx", str(n_ctx),
        *extra_args,
    ]  # fmt: skip
    with openai_server(cmd, timeout_s=timeout_s) as base_url:
        yield base_url


@contextlib.contextmanager
def openai_server(cmd: Sequence[str], *, timeout_s: float = 30.0) -> Iterator[str]:
    """Run a server command (given `--port PORT` for a free 127.0.0.1 port) until GET /v1/models answers;
    yield the `/v1` base url; terminate it on exit."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    cmd = [*cmd, "--port", str(port)]
    with tempfile.TemporaryFile(mode="w+b") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

        def server_log() -> str:
            log.seek(0)
            return log.read().decode("utf-8", "replace")[-8000:]

        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd[2]} exited with code {proc.returncode}:\n{server_log()}")
                try:
                    with urllib.request.urlopen(f"{base_url}/models", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd[2]} did not answer within {timeout_s:.0f}s:\n{server_log()}")
                time.sleep(0.1)
            yield base_url
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
