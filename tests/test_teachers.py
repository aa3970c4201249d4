"""The teacher client against local servers that speak the real protocols: cache, retries,
budget, secrets, and each provider through its real SDK."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from distill.config import TeacherConfig
from distill.teachers import TeacherCache, TeacherClient, TeacherRequest, make_client
from distill.teachers.ledger import CostLedger, known_price, resolve_prices
from distill.teachers.providers import AnthropicTeacher, OpenAITeacher

from .servers import REFUSAL_TEXT, FakeAnthropicServer, FakeOpenAIServer

PLANTED_KEY = f"sk-planted-{uuid.uuid4().hex}"


def _requests(n: int, temperature: float = 0.0) -> list[TeacherRequest]:
    return [
        TeacherRequest(
            ({"role": "system", "content": "S"}, {"role": "user", "content": f"question {i}"}), temperature, 32
        )
        for i in range(n)
    ]


def _client(srv, cache_dir: Path, concurrency=4, max_retries=5, budget=None, prices=(0.0, 0.0), timeout_s=5.0):
    teacher = OpenAITeacher("fake-teacher", srv.base_url, None, timeout_s=timeout_s, max_retries=max_retries)
    ledger = CostLedger(*prices, budget_usd=budget)
    return TeacherClient(
        teacher, TeacherCache(cache_dir), ledger, concurrency, max_retries, backoff_s=0.01, progress=False
    )


def test_second_run_replays_from_cache_with_zero_calls(tmp_path):
    with FakeOpenAIServer() as srv:
        client = _client(srv, tmp_path / "cache", prices=(1.0, 2.0))
        first = client.run(_requests(10))
        assert srv.attempts == 10 and client.ledger.calls == 10
        paid = client.ledger.summary()
        client.close()
        again = _client(srv, tmp_path / "cache", prices=(1.0, 2.0))
        second = again.run(_requests(10))
        again.close()
        assert srv.attempts == 10, "a cached request was sent again"
        assert again.ledger.calls == 0 and again.ledger.cache_hits == 10
        # A warm run still knows what its answers cost when they were made.
        replayed = again.ledger.summary()
        assert replayed["usd"] == 0.0 and paid["usd"] > 0
        assert replayed["cached_usd"] == paid["usd"] and replayed["cached_seconds"] == paid["seconds"]
        assert (replayed["cached_input_tokens"], replayed["cached_output_tokens"]) == (
            paid["input_tokens"],
            paid["output_tokens"],
        )
    assert [r.response.text for r in first] == [r.response.text for r in second]
    assert all(r.cached for r in second)
    assert len(TeacherCache(tmp_path / "cache")) == 10


def test_fault_storm_loses_nothing_and_never_repeats_a_success(tmp_path):
    requests = _requests(60, temperature=0.7)
    with FakeOpenAIServer(fault_rate=0.2, seed=3, timeout_sleep_s=1.0, retry_after_s=0.01) as srv:
        client = _client(srv, tmp_path / "cache", concurrency=8, timeout_s=0.3)
        results = client.run(requests)
        client.close()
        assert srv.repeated_successes() == []
        faults = {k: v for k, v in srv.outcomes.items() if k != "ok"}
        assert sum(faults.values()) >= 8, f"the storm was too mild to test anything: {srv.outcomes}"
    # Every request is accounted for exactly once, in order.
    assert [r.request for r in results] == requests
    answered = [r for r in results if r.response is not None]
    failed = [r for r in results if r.response is None]
    assert len(answered) + len(failed) == 60
    assert all(r.error for r in failed)
    # Refusals are answers (validation filters them); empty and malformed bodies were retried.
    assert all(r.response.text for r in answered)
    refusals = sum(r.response.text == REFUSAL_TEXT for r in answered)
    assert refusals == srv.outcomes["refusal"]
    assert len(TeacherCache(tmp_path / "cache")) == len(answered)


def test_budget_cap_stops_within_one_call_and_keeps_paid_work(tmp_path):
    prices = (1000.0, 2000.0)  # USD per million tokens: each call costs well under a cent
    with FakeOpenAIServer() as srv:
        probe = _client(srv, tmp_path / "probe", prices=prices)
        one_call_max = probe.ledger.worst_case(_requests(1)[0])
        probe.close()
        budget = 5.5 * one_call_max
        client = _client(srv, tmp_path / "cache", concurrency=4, budget=budget, prices=prices)
        results = client.run(_requests(100))
        client.close()
        assert srv.attempts == client.ledger.calls < 100
    assert client.budget_stop and "teacher.budget_usd" in client.budget_stop
    assert client.ledger.spent_usd <= budget
    assert budget - client.ledger.spent_usd <= one_call_max
    stopped = [r for r in results if r.response is None]
    assert stopped and all(r.error == "budget" for r in stopped)
    # What was paid for is in the cache, so a re-run with a larger budget pays only for the rest.
    assert len(TeacherCache(tmp_path / "cache")) == client.ledger.calls


def test_dry_run_estimate_calls_nothing(tmp_path):
    with FakeOpenAIServer() as srv:
        client = _client(srv, tmp_path / "cache", prices=(3.0, 15.0))
        estimate = client.estimate(_requests(20))
        client.close()
        assert srv.attempts == 0
    assert estimate["calls"] == 20 and estimate["output_tokens_max"] == 20 * 32
    assert estimate["usd_max"] > 0


def test_openai_key_comes_from_the_environment_and_is_never_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_TEACHER_KEY", PLANTED_KEY)
    with FakeOpenAIServer(require_api_key=PLANTED_KEY) as srv:
        config = TeacherConfig(
            provider="openai", model="fake-teacher", base_url=srv.base_url, api_key_env="MY_TEACHER_KEY"
        )
        client = make_client(config, tmp_path / "cache", progress=False)
        results = client.run(_requests(3))
        client.close()
        assert srv.outcomes["ok"] == 3
    assert all(r.response for r in results)
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert PLANTED_KEY not in path.read_text()


def test_openai_without_a_key_against_the_real_api_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(Exception, match="OPENAI_API_KEY"):
        OpenAITeacher("gpt-4o-mini", None, None, timeout_s=1, max_retries=0)


def test_openai_logprobs_are_passed_through(tmp_path):
    with FakeOpenAIServer() as srv:
        client = _client(srv, tmp_path / "cache")
        request = TeacherRequest(({"role": "user", "content": "hello there"},), 0.0, 16, top_logprobs=3)
        (result,) = client.run([request])
        client.close()
        assert srv.requests[0]["logprobs"] is True and srv.requests[0]["top_logprobs"] == 3
    assert result.response.logprobs and len(result.response.logprobs[0].top) == 3
    cached = TeacherCache(tmp_path / "cache").get(client.key(request))
    assert cached.logprobs == result.response.logprobs


def test_anthropic_provider_caches_the_system_block(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    with FakeAnthropicServer() as srv:
        srv.fail_next(1, "429")
        teacher = AnthropicTeacher("claude-sonnet-4-6", srv.base_url, None, timeout_s=5, max_retries=2)
        ledger = CostLedger(*resolve_prices("anthropic", "claude-sonnet-4-6", None, None))
        client = TeacherClient(teacher, TeacherCache(tmp_path / "cache"), ledger, 2, 2, progress=False)
        system = "You write SQL.\n" + "schema line\n" * 200
        requests = [
            TeacherRequest(({"role": "system", "content": system}, {"role": "user", "content": q}), 0.0, 64)
            for q in ("first question", "second question")
        ]
        first = client.run(requests[:1])
        second = client.run(requests[1:])
        client.close()
        body = srv.requests[-1]
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert all(m["role"] != "system" for m in body["messages"])
        assert srv.outcomes["429"] == 1 and srv.outcomes["ok"] == 2  # the SDK retried the 429
    assert first[0].response.cache_write_tokens > 0
    assert second[0].response.cache_read_tokens > 0
    assert ledger.spent_usd > 0 and ledger.cache_read_tokens == second[0].response.cache_read_tokens
    for path in (tmp_path / "cache").rglob("*.json"):
        assert PLANTED_KEY not in path.read_text()
        assert json.loads(path.read_text())["provider"] == "anthropic"


def test_prices_table_and_overrides():
    assert known_price("claude-sonnet-4-5-20250929") == (3.0, 15.0)
    assert known_price("gpt-4o-mini-2024-07-18") == (0.15, 0.6)
    assert resolve_prices("llamacpp", "qwen", None, None) == (0.0, 0.0)
    assert resolve_prices("openai", "gpt-4o", 1.0, 2.0) == (1.0, 2.0)
    with pytest.raises(ValueError, match="price_input_per_mtok"):
        resolve_prices("anthropic", "claude-unknown-model", None, None)


MESSAGES = ({"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "hi"})


def test_openai_provider_against_the_llama_cpp_server(tmp_path):
    from .tiny_gguf import llama_server, write_tiny_gguf

    model = write_tiny_gguf(tmp_path / "tiny.gguf")
    with llama_server(model) as base_url:
        config = TeacherConfig(provider="openai", model="tiny", base_url=base_url, concurrency=2)
        client = make_client(config, tmp_path / "cache", progress=False)
        greedy = TeacherRequest(MESSAGES, 0.0, 8, top_logprobs=2)
        sampled = [TeacherRequest(MESSAGES, 0.9, 8, sample_index=i) for i in range(2)]
        results = client.run([greedy, *sampled])
        client.close()
    assert all(r.response is not None for r in results), [r.error for r in results]
    first = results[0].response
    assert first.text and first.output_tokens > 0 and first.input_tokens > 0
    assert first.logprobs and all(len(t.top) == 2 for t in first.logprobs)
    assert client.ledger.calls == 3 and client.ledger.spent_usd == 0.0


def test_llamacpp_provider_in_process_with_logprobs(tmp_path):
    from .tiny_gguf import write_tiny_gguf

    model = write_tiny_gguf(tmp_path / "tiny.gguf")
    config = TeacherConfig(provider="llamacpp", model=str(model), n_ctx=512, threads=1)
    client = make_client(config, tmp_path / "cache", progress=False)
    request = TeacherRequest(MESSAGES, 0.0, 6, top_logprobs=3)
    (result,) = client.run([request])
    (again,) = client.run([request])
    client.close()
    assert result.response.text and result.response.output_tokens > 0
    assert result.response.logprobs and len(result.response.logprobs[0].top) == 3
    assert again.cached and again.response == result.response


def test_hf_provider_returns_top_k_logprobs(tiny_checkpoint, tmp_path):
    config = TeacherConfig(provider="hf", model=tiny_checkpoint, threads=1)
    client = make_client(config, tmp_path / "cache", progress=False)
    greedy = TeacherRequest(MESSAGES, 0.0, 5, top_logprobs=4)
    sampled = TeacherRequest(MESSAGES, 0.8, 5, sample_index=1)
    results = client.run([greedy, sampled, greedy])
    client.close()
    first = results[0].response
    assert first.output_tokens == 5 and len(first.logprobs) == 5
    assert all(len(t.top) == 4 and t.top[0][1] >= t.top[-1][1] for t in first.logprobs)
    assert results[2].response == first  # the repeat is served from the cache
    assert client.ledger.calls == 2 and client.ledger.cache_hits == 1


def test_replay_serves_the_cache_and_stops_on_a_miss_naming_the_key(tmp_path):
    from distill.teachers.base import CacheMiss
    from distill.teachers.cache import cache_key

    with FakeOpenAIServer() as srv:
        writer = make_client(
            TeacherConfig(provider="openai", model="fake-teacher", base_url=srv.base_url),
            tmp_path / "c",
            progress=False,
        )
        requests = _requests(3)
        original = writer.run(requests)
        writer.close()
        served = srv.attempts
        replay = make_client(
            TeacherConfig(provider="replay", replay_of="openai", model="fake-teacher", budget_usd=0.0),
            tmp_path / "c",
            progress=False,
        )
        replayed = replay.run(requests)
        assert [r.response.text for r in replayed] == [r.response.text for r in original]
        assert all(r.cached for r in replayed) and srv.attempts == served
        missing = _requests(4)[3]
        with pytest.raises(CacheMiss, match=cache_key("openai", "fake-teacher", missing)):
            replay.run([missing])
        replay.close()
        assert srv.attempts == served, "replay reached the server"


def test_replay_needs_the_provider_that_wrote_the_cache(tmp_path):
    from distill.config import ConfigError, load_params

    params = tmp_path / "params.yaml"
    params.write_text("teacher:\n  provider: replay\n  model: claude-sonnet-4-6\n")
    with pytest.raises(ConfigError, match="teacher.replay_of"):
        load_params(params)
    params.write_text("teacher:\n  provider: replay\n  replay_of: anthropic\n  model: claude-sonnet-4-6\n")
    assert load_params(params).teacher.replay_of == "anthropic"
