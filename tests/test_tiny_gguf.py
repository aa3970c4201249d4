"""The tiny random GGUF chat model used by fast llama.cpp tests, and the llama-cpp-python server around it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests import tiny_gguf as tiny_gguf_module
from tests.tiny_gguf import cached_tiny_gguf, llama_server, source_gguf, write_tiny_gguf

llama_cpp = pytest.importorskip("llama_cpp")

MESSAGES = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


def test_file_is_small_deterministic_and_atomic(tiny_gguf: Path, tmp_path: Path) -> None:
    assert tiny_gguf.stat().st_size < 20_000_000
    again = write_tiny_gguf(tmp_path / "again.gguf", seed=0)
    assert again.read_bytes() == tiny_gguf.read_bytes()
    other = write_tiny_gguf(tmp_path / "other.gguf", seed=1)
    assert other.read_bytes() != tiny_gguf.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.gguf", "other.gguf"]  # no temp files left


def test_tokenizer_and_chat_template_match_the_source(tiny_gguf: Path) -> None:
    tiny = llama_cpp.Llama(model_path=str(tiny_gguf), vocab_only=True, verbose=False)
    source = llama_cpp.Llama(model_path=str(source_gguf()), vocab_only=True, verbose=False)
    for key, value in source.metadata.items():
        if key.startswith("tokenizer."):
            assert tiny.metadata.get(key) == value, key
    assert "tokenizer.chat_template" in tiny.metadata
    text = "<|im_start|>system\nSELECT name FROM t WHERE x = 'é';<|im_end|>\n  héllo  wörld 123 🙂"
    for special in (False, True):
        assert tiny.tokenize(text.encode(), special=special) == source.tokenize(text.encode(), special=special)
    assert tiny.n_vocab() == source.n_vocab() == 49152
    assert (tiny.token_bos(), tiny.token_eos()) == (source.token_bos(), source.token_eos())
    for i in range(tiny.n_vocab()):
        assert tiny._model.token_get_text(i) == source._model.token_get_text(i), i
        assert tiny._model.token_get_attr(i) == source._model.token_get_attr(i), i
        assert tiny._model.token_get_score(i) == source._model.token_get_score(i), i


def test_cached_copy_is_written_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = source_gguf()  # from the real cache, before DISTILL_HOME moves
    monkeypatch.setattr(tiny_gguf_module, "source_gguf", lambda: source)
    monkeypatch.setenv("DISTILL_HOME", str(tmp_path))
    path = cached_tiny_gguf(seed=3)
    assert path.is_file() and path.is_relative_to(tmp_path) and "seed3" in path.name
    mtime = path.stat().st_mtime_ns
    assert cached_tiny_gguf(seed=3) == path and path.stat().st_mtime_ns == mtime


def test_loads_fast_and_chats_deterministically(tiny_gguf: Path) -> None:
    start = time.perf_counter()
    llm = llama_cpp.Llama(model_path=str(tiny_gguf), n_ctx=512, verbose=False)
    assert time.perf_counter() - start < 5  # ~0.2 s on 2 busy cores
    outputs = []
    for _ in range(2):
        out = llm.create_chat_completion(messages=MESSAGES, max_tokens=8, temperature=0)
        content = out["choices"][0]["message"]["content"]
        assert isinstance(content, str) and content
        outputs.append(content)
    assert outputs[0] == outputs[1]
    assert out["usage"]["completion_tokens"] > 0


def test_openai_client_against_llama_cpp_server(tiny_gguf: Path) -> None:
    openai = pytest.importorskip("openai")
    with llama_server(tiny_gguf) as base_url:
        client = openai.OpenAI(base_url=f"{base_url}", api_key="x", max_retries=0, timeout=30)
        assert client.models.list().data
        responses = [
            client.chat.completions.create(
                model="tiny", messages=MESSAGES, max_tokens=4, temperature=0, logprobs=True, top_logprobs=2
            )
            for _ in range(2)
        ]
    first, second = responses
    content = first.choices[0].message.content
    assert isinstance(content, str) and content
    assert second.choices[0].message.content == content
    # The llama-cpp-python server reports usage and per-token logprobs with alternatives (it runs logits_all).
    assert first.usage is not None and first.usage.completion_tokens > 0 and first.usage.prompt_tokens > 0
    tokens = first.choices[0].logprobs.content
    assert tokens and "".join(t.token for t in tokens) == content
    assert all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in tokens)
