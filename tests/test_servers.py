"""The local API fakes in tests/servers.py, driven by the real openai / anthropic SDKs."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import anthropic
import openai
import pytest

from tests.servers import REFUSAL_TEXT, FakeAnthropicServer, FakeOpenAIServer, request_key

MSGS = [{"role": "system", "content": "You write SQL."}, {"role": "user", "content": "How many employees?"}]


def oai(srv: FakeOpenAIServer, **kw) -> openai.OpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 5.0)
    return openai.OpenAI(base_url=srv.base_url, api_key="sk-test", **kw)


def ant(srv: FakeAnthropicServer, **kw) -> anthropic.Anthropic:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 5.0)
    return anthropic.Anthropic(base_url=srv.base_url, api_key="sk-ant-test", **kw)


# ---------------------------------------------------------------------------------------------- OpenAI


def test_openai_completion_content_and_usage():
    with FakeOpenAIServer() as srv:
        client = oai(srv)
        resp = client.chat.completions.create(model="fake-teacher", messages=MSGS, temperature=0)
        assert resp.choices[0].message.content == "answer: How many employees?"
        assert resp.choices[0].message.role == "assistant"
        assert resp.choices[0].finish_reason == "stop"
        assert resp.model == "fake-teacher"
        assert resp.object == "chat.completion"
        assert resp.usage.prompt_tokens == len("You write SQL.") // 4 + len("How many employees?") // 4
        assert resp.usage.completion_tokens == len("answer: How many employees?") // 4
        assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
        assert resp.choices[0].logprobs is None
        # keep-alive: a second, identical call on the same client works too
        client.chat.completions.create(model="fake-teacher", messages=MSGS, temperature=0)
        assert [m.id for m in client.models.list()] == list(srv.models)

        assert srv.attempts == 2 and srv.outcomes == {"ok": 2}
        assert srv.requests[0]["messages"] == MSGS and srv.requests[0]["temperature"] == 0
        key = request_key(srv.requests[0])
        assert srv.successes[key] == 2 and srv.repeated_successes() == [key]
        srv.reset_counts()
        assert srv.attempts == 0 and not srv.successes and not srv.requests and not srv.headers
        assert srv.errors == []


def test_openai_custom_responder_sees_request():
    seen = []

    def responder(body: dict) -> str:
        seen.append(body["model"])
        return "SELECT 1;"

    with FakeOpenAIServer(responder=responder) as srv:
        resp = oai(srv).chat.completions.create(model="m", messages=MSGS)
    assert resp.choices[0].message.content == "SELECT 1;" and seen == ["m"]


def test_openai_logprobs():
    with FakeOpenAIServer(responder=lambda body: "SELECT count(*) FROM employees;") as srv:
        resp = oai(srv).chat.completions.create(model="m", messages=MSGS, logprobs=True, top_logprobs=3)
    toks = resp.choices[0].logprobs.content
    assert "".join(t.token for t in toks) == "SELECT count(*) FROM employees;"
    assert len(toks) == 4
    for t in toks:
        assert t.logprob <= 0 and bytes(t.bytes).decode() == t.token
        assert len(t.top_logprobs) == 3 and t.top_logprobs[0].token == t.token
        assert [x.logprob for x in t.top_logprobs] == sorted((x.logprob for x in t.top_logprobs), reverse=True)


def test_openai_429_then_success_is_retried():
    with FakeOpenAIServer(retry_after_s=0.05) as srv:
        srv.fail_next(1, "429")
        t0 = time.perf_counter()
        resp = oai(srv, max_retries=2).chat.completions.create(model="m", messages=MSGS)
        elapsed = time.perf_counter() - t0
        assert resp.choices[0].message.content == "answer: How many employees?"
        assert srv.attempts == 2
        assert srv.outcomes == {"429": 1, "ok": 1}
        assert sum(srv.successes.values()) == 1 and srv.repeated_successes() == []
        # the SDK waited Retry-After (50 ms), not its default 0.5 s+ backoff
        assert elapsed < 0.4
        # the retry carries the same body and says it is a retry (openai 3.57 sends no idempotency-key here)
        assert srv.requests[0] == srv.requests[1]
        assert [h["x-stainless-retry-count"] for h in srv.headers] == ["0", "1"]


def test_openai_429_exhausted_raises_rate_limit_error():
    with FakeOpenAIServer() as srv:
        srv.fail_next(3, "429")
        with pytest.raises(openai.RateLimitError) as info:
            oai(srv, max_retries=2).chat.completions.create(model="m", messages=MSGS)
        assert info.value.status_code == 429 and info.value.code == "rate_limit_exceeded"
        assert srv.attempts == 3 and srv.outcomes == {"429": 3}


def test_openai_500_raises_internal_server_error():
    with FakeOpenAIServer() as srv:
        srv.fail_next(1, "500")
        with pytest.raises(openai.InternalServerError):
            oai(srv).chat.completions.create(model="m", messages=MSGS)


def test_openai_malformed_body_raises_and_is_not_retried():
    with FakeOpenAIServer() as srv:
        srv.fail_next(1, "malformed")
        # openai 3.57 calls json.loads on the 200 body itself: a bare json.JSONDecodeError (a ValueError),
        # NOT an openai.APIError, and it is raised after the retry loop, so max_retries does not help.
        with pytest.raises(json.JSONDecodeError):
            oai(srv, max_retries=2).chat.completions.create(model="m", messages=MSGS)
        assert srv.attempts == 1 and srv.outcomes == {"malformed": 1} and not srv.successes


def test_openai_timeout_raises_api_timeout_error():
    with FakeOpenAIServer(timeout_sleep_s=2.0) as srv:
        srv.fail_next(1, "timeout")
        t0 = time.perf_counter()
        with pytest.raises(openai.APITimeoutError):
            oai(srv, timeout=0.3).chat.completions.create(model="m", messages=MSGS)
        assert time.perf_counter() - t0 < 1.5
        assert srv.outcomes == {"timeout": 1}
    # exiting the context does not wait for the parked handler (timeout_sleep_s = 2 s)
    assert time.perf_counter() - t0 < 1.5


def test_openai_dropped_connection_is_a_connection_error_and_retried():
    # a "timeout" fault held shorter than the client timeout: the server hangs up without a response
    with FakeOpenAIServer(timeout_sleep_s=0.1) as srv:
        srv.fail_next(1, "timeout")
        with pytest.raises(openai.APIConnectionError) as info:
            oai(srv).chat.completions.create(model="m", messages=MSGS)
        assert not isinstance(info.value, openai.APITimeoutError)
        srv.fail_next(1, "timeout")
        resp = oai(srv, max_retries=1).chat.completions.create(model="m", messages=MSGS)
        assert resp.choices[0].message.content and srv.outcomes == {"timeout": 2, "ok": 1}


def test_openai_empty_and_refusal():
    with FakeOpenAIServer() as srv:
        srv.fail_next(1, "empty")
        srv.fail_next(1, "refusal")
        client = oai(srv)
        empty = client.chat.completions.create(model="m", messages=MSGS)
        refusal = client.chat.completions.create(model="m", messages=MSGS)
        assert empty.choices[0].message.content == "" and empty.usage.completion_tokens == 0
        assert refusal.choices[0].message.content == REFUSAL_TEXT
        assert srv.outcomes == {"empty": 1, "refusal": 1}
        assert sum(srv.successes.values()) == 1  # an empty answer is not a delivered success


def test_openai_random_faults_are_seeded():
    def run(seed: int) -> list[str]:
        with FakeOpenAIServer(fault_rate=0.5, faults=("500", "empty"), seed=seed) as srv:
            client = oai(srv)
            kinds = []
            for _ in range(20):
                try:
                    r = client.chat.completions.create(model="m", messages=MSGS)
                    kinds.append("empty" if r.choices[0].message.content == "" else "ok")
                except openai.InternalServerError:
                    kinds.append("500")
            assert srv.attempts == 20 and sum(srv.outcomes.values()) == 20
            return kinds

    a = run(3)
    assert a == run(3)
    assert {"ok", "500", "empty"} <= set(a)


def test_openai_api_key_required_and_headers_recorded():
    with FakeOpenAIServer(require_api_key="sk-right") as srv:
        with pytest.raises(openai.AuthenticationError) as info:
            oai(srv).chat.completions.create(model="m", messages=MSGS)
        assert "sk-test" not in str(info.value)
        good = openai.OpenAI(base_url=srv.base_url, api_key="sk-right", max_retries=0)
        assert good.chat.completions.create(model="m", messages=MSGS).choices[0].message.content
        assert srv.outcomes == {"401": 1, "ok": 1}
        assert [h["authorization"] for h in srv.headers] == ["Bearer sk-test", "Bearer sk-right"]


def test_openai_concurrent_requests_overlap():
    n, latency = 16, 0.2
    with FakeOpenAIServer(latency_s=latency) as srv:
        client = oai(srv)
        results: list[str] = []

        def one(i: int) -> None:
            msgs = [{"role": "user", "content": f"q{i}"}]
            results.append(client.chat.completions.create(model="m", messages=msgs).choices[0].message.content)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        assert sorted(results) == sorted(f"answer: q{i}" for i in range(n))
        assert srv.attempts == n and len(srv.successes) == n and srv.repeated_successes() == []
    assert elapsed < 1.5, f"{n} requests at {latency}s took {elapsed:.2f}s; serial would be {n * latency}s"


# ---------------------------------------------------------------------------------------------- Anthropic

SYSTEM = [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]
AMSGS = [{"role": "user", "content": "How many employees?"}]


def test_anthropic_message_and_prompt_caching():
    with FakeAnthropicServer() as srv:
        client = ant(srv)
        first = client.messages.create(model="claude-haiku-4-5", max_tokens=64, system=SYSTEM, messages=AMSGS)
        assert first.content[0].type == "text" and first.content[0].text == "answer: How many employees?"
        assert first.role == "assistant" and first.stop_reason == "end_turn" and first.model == "claude-haiku-4-5"
        assert first.id.startswith("msg_")
        assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
        assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0

        second = client.messages.create(model="claude-haiku-4-5", max_tokens=64, system=SYSTEM, messages=AMSGS)
        assert second.usage.cache_read_input_tokens > 0 and second.usage.cache_creation_input_tokens == 0

        plain = client.messages.create(model="claude-haiku-4-5", max_tokens=64, system="S", messages=AMSGS)
        assert plain.usage.cache_read_input_tokens == 0 and plain.usage.cache_creation_input_tokens == 0

        assert srv.attempts == 3 and srv.outcomes == {"ok": 3}
        assert srv.requests[0]["system"] == SYSTEM and srv.requests[0]["max_tokens"] == 64
        # anthropic 2.14 sends the key as `Authorization: Bearer`, not `x-api-key`
        assert srv.headers[0]["authorization"] == "Bearer sk-ant-test" and "x-api-key" not in srv.headers[0]
        assert srv.headers[0]["anthropic-version"]
        assert srv.repeated_successes() == [request_key(srv.requests[0])]
        assert srv.errors == []


def test_anthropic_429_and_529():
    with FakeAnthropicServer(retry_after_s=0.05) as srv:
        srv.fail_next(1, "429")
        t0 = time.perf_counter()
        resp = ant(srv, max_retries=1).messages.create(model="m", max_tokens=8, messages=AMSGS)
        assert time.perf_counter() - t0 < 0.4  # waited retry-after (50 ms), not the 0.375-0.5 s backoff
        assert resp.content[0].text
        srv.fail_next(1, "529")  # no retry-after: the SDK backs off 0.375-0.5 s, then succeeds
        ant(srv, max_retries=1).messages.create(model="m", max_tokens=8, messages=AMSGS)
        assert srv.attempts == 4 and srv.outcomes == {"429": 1, "529": 1, "ok": 2}
        assert sum(srv.successes.values()) == 2 and len(srv.repeated_successes()) == 1

        srv.fail_next(1, "529")
        with pytest.raises(anthropic.OverloadedError) as info:  # subclass of InternalServerError
            ant(srv).messages.create(model="m", max_tokens=8, messages=AMSGS)
        assert info.value.status_code == 529 and info.value.body["error"]["type"] == "overloaded_error"

        srv.fail_next(1, "429")
        with pytest.raises(anthropic.RateLimitError):
            ant(srv).messages.create(model="m", max_tokens=8, messages=AMSGS)


def _post(url: str, body: dict, headers: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_anthropic_requires_key_and_version_headers():
    body = {"model": "m", "max_tokens": 8, "messages": AMSGS}
    with FakeAnthropicServer(require_api_key="k") as srv:
        url = srv.base_url + "/v1/messages"
        status, err = _post(url, body, {"anthropic-version": "2023-06-01"})
        assert status == 401 and err == {
            "type": "error",
            "error": {"type": "authentication_error", "message": "x-api-key header is required"},
        }
        status, err = _post(url, body, {"x-api-key": "wrong", "anthropic-version": "2023-06-01"})
        assert status == 401 and err["error"]["type"] == "authentication_error" and "wrong" not in str(err)
        status, err = _post(url, body, {"x-api-key": "k"})
        assert status == 400 and err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
        status, msg = _post(url, body, {"x-api-key": "k", "anthropic-version": "2023-06-01"})
        assert status == 200 and msg["type"] == "message" and msg["content"][0]["text"] == "answer: How many employees?"
        assert srv.outcomes == {"401": 2, "bad_request": 1, "ok": 1}


def test_anthropic_timeout():
    with FakeAnthropicServer() as srv:
        srv.fail_next(1, "timeout")
        with pytest.raises(anthropic.APITimeoutError):
            ant(srv, timeout=0.3).messages.create(model="m", max_tokens=8, messages=AMSGS)
