"""The batched llama.cpp runtime on the tiny GGUF: batched decoding gives what decoding alone
gives, seeded sampling is reproducible, stops end one sequence, and nothing outlives the stage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from distill.inference.llamacpp import LlamaRuntime, Sampling
from distill.models import GGUFSource

from .tiny_gguf import cached_tiny_gguf

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "hi",
    "How many rows are in the table?",
    "List every value of column a greater than 3, sorted from the largest to the smallest one.",
    "x",
    "Count the distinct b.",
    "What is the largest a for each b value in the table, and how many rows does each b have?",
    "Sum of a",
    "Which rows have no b at all, and which of them have the smallest a?",
    "Name three colours.",
    "ok",
]
NEAR_TIE = 0.05
"""Top-1 margins below this (in logits) may flip with float rounding of another batch shape."""


def conversation(question: str) -> list[dict]:
    return [{"role": "system", "content": "You write SQL for table t(a, b)."}, {"role": "user", "content": question}]


@pytest.fixture(scope="module")
def source() -> GGUFSource:
    return GGUFSource(path=cached_tiny_gguf(0))


def decode_alone(source: GGUFSource, prompts: list[list[int]], sampling: Sampling) -> list:
    with LlamaRuntime(source, n_ctx=512, threads=1, slots=1) as runtime:
        return [runtime.submit(p, sampling).result() for p in prompts]


def test_batched_greedy_equals_decoding_alone(source):
    with LlamaRuntime(source, n_ctx=512, threads=1, slots=8) as runtime:
        prompts = [runtime.chat_prompt(conversation(q))[0] for q in QUESTIONS]
        assert len({len(p) for p in prompts}) >= 8  # different lengths
        batched = runtime.generate(prompts, [Sampling(max_tokens=24)] * len(prompts))
        alone = decode_alone(source, prompts, Sampling(max_tokens=24))
        for prompt, a, b in zip(prompts, alone, batched, strict=True):
            if a.token_ids == b.token_ids:
                continue
            # A divergence is allowed only where decoding alone had a near-tie.
            i = next(i for i, (x, y) in enumerate(zip(a.token_ids, b.token_ids, strict=False)) if x != y)
            logits = runtime.score_logits([*prompt, *a.token_ids[: i + 1]], len(prompt) + i)[-1]
            top = sorted(logits)[-2:]
            assert top[1] - top[0] < NEAR_TIE, f"batched answer diverged at token {i} with a clear margin"
        assert sum(a.token_ids == b.token_ids for a, b in zip(alone, batched, strict=True)) >= 8
        assert all(b.completion_tokens == len(b.token_ids) > 0 for b in batched)


def test_batched_answers_match_llama_cpp_pythons_own_chat_completion(source):
    from distill.inference.llamacpp import load_llama

    llm = load_llama(source, n_ctx=512, threads=1)
    try:
        reference = [
            llm.create_chat_completion(messages=conversation(q), temperature=0.0, max_tokens=16)["choices"][0][
                "message"
            ]["content"]
            for q in QUESTIONS[:6]
        ]
    finally:
        llm.close()
    with LlamaRuntime(source, n_ctx=512, threads=1, slots=4) as runtime:
        ours = runtime.chat([conversation(q) for q in QUESTIONS[:6]], [Sampling(max_tokens=16)] * 6)
    assert sum(r == o.text for r, o in zip(reference, ours, strict=True)) >= 5


def test_seeded_sampling_is_reproducible_for_the_same_batch(source):
    def run() -> list[str]:
        with LlamaRuntime(source, n_ctx=512, threads=1, slots=4) as runtime:
            sampling = [Sampling(temperature=0.9, seed=i % 3, max_tokens=20) for i in range(6)]
            return [c.text for c in runtime.chat([conversation(q) for q in QUESTIONS[:6]], sampling)]

    first, second = run(), run()
    assert first == second
    # Different seeds give different samples (the seed reaches the sampler).
    with LlamaRuntime(source, n_ctx=512, threads=1, slots=4) as runtime:
        texts = {
            c.text
            for c in runtime.chat(
                [conversation("hi")] * 4, [Sampling(temperature=1.0, seed=s, max_tokens=20) for s in range(4)]
            )
        }
    assert len(texts) > 1


def test_a_sequence_stops_alone_at_its_max_tokens_or_stop_string(source):
    with LlamaRuntime(source, n_ctx=512, threads=1, slots=4) as runtime:
        prompts = [runtime.chat_prompt(conversation(q))[0] for q in QUESTIONS[:4]]
        free = runtime.generate(prompts, [Sampling(max_tokens=30)] * 4)
        stop = free[1].text[8:14]
        assert stop.strip() and free[1].completion_tokens == 30
        mixed = [runtime.submit(prompts[0], Sampling(max_tokens=3))]
        mixed.append(runtime.submit(prompts[1], Sampling(max_tokens=30), stops=(stop,)))
        mixed += [runtime.submit(p, Sampling(max_tokens=30)) for p in prompts[2:]]
        done = [f.result() for f in mixed]
    assert done[0].finish_reason == "length" and done[0].completion_tokens == 3
    assert free[0].text.startswith(done[0].text)  # cut short, not changed
    assert done[1].finish_reason == "stop" and done[1].text == free[1].text[: free[1].text.index(stop)]
    assert [d.text for d in done[2:]] == [f.text for f in free[2:]]  # the others went on, unchanged


def test_a_prompt_longer_than_the_context_fails_its_request_only(source):
    with LlamaRuntime(source, n_ctx=64, threads=1, slots=2) as runtime:
        too_long = runtime.submit(list(range(100, 180)), Sampling(max_tokens=4))
        fine = runtime.submit(runtime.chat_prompt([{"role": "user", "content": "hi"}])[0], Sampling(max_tokens=4))
        with pytest.raises(ValueError, match="context of 64"):
            too_long.result()
        assert fine.result().completion_tokens > 0


def test_a_cancelled_request_is_skipped_and_an_empty_prompt_fails_alone(source):
    with LlamaRuntime(source, n_ctx=512, threads=1, slots=1) as runtime:
        prompts = [runtime.chat_prompt(conversation(q))[0] for q in QUESTIONS[:3]]
        futures = [runtime.submit(p, Sampling(max_tokens=30)) for p in prompts]
        empty = runtime.submit([], Sampling(max_tokens=4))
        cancelled = futures[2].cancel()  # still queued behind the single slot
        done = [f.result(timeout=60) for f in futures[:2]]
        with pytest.raises(ValueError, match="empty prompt"):
            empty.result()
        after = runtime.submit(prompts[2], Sampling(max_tokens=5)).result(timeout=60)
    assert cancelled and all(d.completion_tokens > 0 for d in done) and after.completion_tokens > 0


def test_teacher_cache_keys_do_not_depend_on_batching(source, tmp_path):
    from distill.config import TeacherConfig
    from distill.teachers import TeacherRequest, make_client

    requests = [TeacherRequest(tuple(conversation(q)), 0.0, 12) for q in QUESTIONS]

    def run(concurrency: int):
        config = TeacherConfig(
            provider="llamacpp", model=str(source.path), n_ctx=512, threads=1, concurrency=concurrency
        )
        client = make_client(config, tmp_path / "cache", progress=False)
        try:
            return client.run(requests), client.ledger.calls
        finally:
            client.close()

    first, _ = run(8)
    again, calls = run(1)
    assert all(r.response is not None for r in first)
    assert all(r.cached for r in again) and calls == 0
    assert [r.response.text for r in again] == [r.response.text for r in first]


STAGE = """
import os, signal, sys, time
sys.path.insert(0, {repo!r})
from distill.config import TeacherConfig
from distill.teachers import TeacherRequest, make_client
client = make_client(
    TeacherConfig(provider="llamacpp", model={model!r}, n_ctx=512, threads=1, concurrency=4), {cache!r}, progress=False
)
mode = sys.argv[1]
requests = [TeacherRequest(({{"role": "user", "content": f"q{{i}}"}},), 0.7, 400, sample_index=i) for i in range(64)]
print("ready", flush=True)
if mode == "success":
    client.run(requests[:2])
    client.close()
elif mode == "exception":
    try:
        client.run(requests[:2])
        raise RuntimeError("boom")
    finally:
        client.close()
else:
    client.run(requests)  # long enough to be killed mid-decode
"""


@pytest.mark.parametrize("mode", ["success", "exception", "sigterm", "sigkill"])
def test_no_process_outlives_the_stage(source, tmp_path, mode):
    script = tmp_path / "stage.py"
    script.write_text(textwrap.dedent(STAGE.format(repo=str(REPO), model=str(source.path), cache=str(tmp_path / "c"))))
    proc = subprocess.Popen(
        [sys.executable, str(script), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    if mode in ("sigterm", "sigkill"):
        time.sleep(1.0)  # decoding
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert children == []  # the runtime is threads in the stage's own process, never a child
        os.kill(proc.pid, signal.SIGTERM if mode == "sigterm" else signal.SIGKILL)
    proc.communicate(timeout=120)
    assert (proc.returncode == 0) == (mode == "success")
    with pytest.raises(ProcessLookupError):  # nothing left in the stage's process group
        os.killpg(proc.pid, 0)
