"""Local HTTP fakes of the OpenAI Chat Completions and Anthropic Messages APIs.

Standard library only. Each fake runs a ``ThreadingHTTPServer`` on 127.0.0.1 (port picked by the OS) in a
daemon thread, speaks HTTP/1.1 with keep-alive (so the real ``openai`` / ``anthropic`` SDKs can be pointed at
it through ``base_url``), can inject faults (rate limits, server errors, hung connections, bad bodies) and
keeps thread-safe server-side accounting of what it was asked and what it delivered::

    with FakeOpenAIServer(latency_s=0.05, fault_rate=0.2, seed=1) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="sk-test")
        ...
        assert srv.repeated_successes() == []   # no prompt was answered twice

    with FakeAnthropicServer() as srv:
        client = anthropic.Anthropic(base_url=srv.base_url, api_key="sk-ant-test")

Accounting attributes (read them while holding nothing; every update happens under ``srv.lock``):

* ``attempts``   -- number of generation requests (POST chat/completions or messages), faults included;
* ``outcomes``   -- ``Counter`` of outcome names ("ok", "429", "500", "timeout", ..., "401", "bad_request");
* ``requests``   -- parsed JSON bodies of the generation requests, in arrival order;
* ``headers``    -- one ``dict`` of request headers (names lower-cased) per HTTP request, any path;
* ``successes``  -- ``Counter`` keyed by ``request_key(body)`` of responses that delivered usable content
  (outcome "ok" or "refusal");
* ``errors``     -- unexpected exceptions raised inside handler threads (should stay empty).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import random
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeAnthropicServer",
    "FakeOpenAIServer",
    "REFUSAL_TEXT",
    "default_responder",
    "estimate_tokens",
    "request_key",
]

REFUSAL_TEXT = "I'm sorry, but I can't help with that request."
MALFORMED_BODY = b'{"id": "chatcmpl-'

Responder = Callable[[dict], str]


def request_key(body: dict) -> str:
    """Stable identity of a request body: sha256 of its canonical JSON."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def estimate_tokens(text: str) -> int:
    """Crude token count: one token per four characters, at least one for non-empty text."""
    return max(1, len(text) // 4) if text else 0


def _text_of(content: Any) -> str:
    """Text of a message ``content``: a string, or a list of parts/blocks carrying ``text``."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return str(content)


def _last_user_text(messages: Any) -> str:
    if isinstance(messages, list):
        for msg in reversed(messages):
            if isinstance(msg, dict) and msg.get("role") == "user":
                return _text_of(msg.get("content"))
    return ""


def default_responder(body: dict) -> str:
    """Deterministic echo: ``"answer: <last user message>"``."""
    return "answer: " + _last_user_text(body.get("messages"))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never join handler threads (one may be parked in a "timeout" fault)
    allow_reuse_address = True
    fake: _FakeServerBase

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or self.fake._stop.is_set():
            return  # client went away / we are shutting down
        with self.fake.lock:
            self.fake.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeLLM/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body are two writes; avoid Nagle/delayed-ACK stalls
    server: _HTTPServer

    def log_message(self, format, *args):  # noqa: A002 - silence request logging
        pass

    def setup(self):
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    # -- plumbing used by the fakes -------------------------------------------------------------------
    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_bytes(
        self, status: int, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(obj).encode("utf-8"), headers=headers)

    def drop(self) -> None:
        """Close the connection without sending anything."""
        self.close_connection = True

    def do_GET(self):
        self.server.fake._dispatch(self, "GET")

    def do_POST(self):
        self.server.fake._dispatch(self, "POST")


class _FakeServerBase:
    """Shared lifecycle, fault choice and accounting. Subclasses implement ``_route``."""

    fault_kinds: tuple[str, ...] = ()
    default_faults: tuple[str, ...] = ()

    def __init__(
        self,
        responder: Responder | None = None,
        latency_s: float = 0.0,
        fault_rate: float = 0.0,
        faults: Iterable[str] | None = None,
        seed: int = 0,
        timeout_sleep_s: float = 2.0,
        retry_after_s: float = 0.05,
        require_api_key: str | None = None,
    ) -> None:
        self.responder: Responder = responder or default_responder
        self.latency_s = float(latency_s)
        self.fault_rate = float(fault_rate)
        self.faults = tuple(self.default_faults if faults is None else faults)
        for kind in self.faults:
            self._check_kind(kind)
        if self.fault_rate > 0 and not self.faults:
            raise ValueError("fault_rate > 0 needs at least one fault kind")
        self.timeout_sleep_s = float(timeout_sleep_s)
        self.retry_after_s = float(retry_after_s)
        self.require_api_key = require_api_key

        self.lock = threading.Lock()
        self._rng = random.Random(seed)
        self._forced: collections.deque[str] = collections.deque()
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []
        self.headers: list[dict[str, str]] = []
        self.reset_counts()

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self):
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._stop.clear()
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stop.set()  # wakes handlers parked in latency / "timeout" sleeps
        httpd.shutdown()
        with self.lock:
            conns = list(self._conns)
        for conn in conns:  # kick idle keep-alive connections so their threads exit
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- accounting -----------------------------------------------------------------------------------
    def reset_counts(self) -> None:
        """Forget attempts, outcomes, requests, headers, successes and errors (not forced faults)."""
        with self.lock:
            self.attempts = 0
            self.outcomes: collections.Counter[str] = collections.Counter()
            self.requests: list[dict] = []
            self.headers.clear()
            self.successes: collections.Counter[str] = collections.Counter()
            self.errors.clear()

    def repeated_successes(self) -> list[str]:
        """Request keys whose content was delivered more than once."""
        with self.lock:
            return [key for key, count in self.successes.items() if count > 1]

    def fail_next(self, n: int, kind: str) -> None:
        """Force the next ``n`` generation requests to fault with ``kind`` (before any random faults)."""
        self._check_kind(kind)
        with self.lock:
            self._forced.extend([kind] * int(n))

    def _check_kind(self, kind: str) -> None:
        if kind not in self.fault_kinds:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {self.fault_kinds}")

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self.lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _admit(self, body: dict) -> str:
        """Count one generation request and decide its outcome ("ok" or a fault kind)."""
        with self.lock:
            self.attempts += 1
            self.requests.append(body)
            if self._forced:
                return self._forced.popleft()
            if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.faults)
            return "ok"

    def _record(self, outcome: str, body: dict | None = None) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            if body is not None and outcome in ("ok", "refusal"):
                self.successes[request_key(body)] += 1

    def _sleep(self, seconds: float) -> bool:
        """Block this handler thread; False when the server is shutting down meanwhile."""
        if seconds > 0:
            self._stop.wait(seconds)
        return not self._stop.is_set()

    def _dispatch(self, h: _Handler, method: str) -> None:
        with self.lock:
            self.headers.append({k.lower(): v for k, v in h.headers.items()})
        raw = h.read_body() if method == "POST" else b""
        try:
            self._route(h, method, h.path.split("?", 1)[0].rstrip("/"), raw)
        except (OSError, ValueError) as exc:  # BrokenPipe etc.; ValueError: write to closed file
            if not isinstance(exc, OSError) and not self._stop.is_set():
                with self.lock:
                    self.errors.append(exc)
            h.close_connection = True

    def _parse_json(self, raw: bytes) -> dict | None:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _route(self, h: _Handler, method: str, path: str, raw: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


# ======================================================================================================
# OpenAI
# ======================================================================================================


def _openai_error(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


_TOKEN_RE = re.compile(r"\s*\S+|\s+")


def _fake_logprobs(content: str, top_k: int) -> list[dict]:
    """Plausible per-token logprobs: whitespace-led chunks, deterministic values in (-2.5, 0]."""
    out = []
    for tok in _TOKEN_RE.findall(content):
        h = int.from_bytes(hashlib.sha256(tok.encode("utf-8")).digest()[:4], "big")
        lp = -round((h % 1000) / 1000 * 0.5, 6)
        tops = [{"token": tok, "logprob": lp, "bytes": list(tok.encode("utf-8"))}]
        for i in range(1, top_k):
            alt = f"{tok}_{i}"
            tops.append({"token": alt, "logprob": round(lp - 0.5 - i * 0.4, 6), "bytes": list(alt.encode("utf-8"))})
        out.append({"token": tok, "logprob": lp, "bytes": list(tok.encode("utf-8")), "top_logprobs": tops[:top_k]})
    return out


class FakeOpenAIServer(_FakeServerBase):
    """Fake of ``POST /v1/chat/completions`` (non-streaming) and ``GET /v1/models``.

    Fault kinds: "429" (Retry-After / retry-after-ms headers), "500", "timeout" (hold the request for
    ``timeout_sleep_s`` then close the connection with no response), "empty" (200, content ""),
    "malformed" (200, application/json, invalid JSON), "refusal" (200, content ``REFUSAL_TEXT``).
    """

    fault_kinds = ("429", "500", "timeout", "empty", "malformed", "refusal")
    default_faults = fault_kinds
    models = ("gpt-4o-mini", "gpt-4o", "fake-teacher")

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def _route(self, h: _Handler, method: str, path: str, raw: bytes) -> None:
        rid = {"x-request-id": f"req_{uuid.uuid4().hex}"}
        if method == "GET" and path == "/v1/models":
            if not self._authorized(h):
                return self._reject_auth(h)
            data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fake"} for m in self.models]
            return h.send_json(200, {"object": "list", "data": data}, headers=rid)
        if method == "POST" and path == "/v1/chat/completions":
            return self._chat(h, raw, rid)
        h.send_json(
            404,
            _openai_error(f"Unknown request URL: {method} {h.path}.", "invalid_request_error", "unknown_url"),
            headers=rid,
        )

    def _authorized(self, h: _Handler) -> bool:
        return self.require_api_key is None or h.headers.get("Authorization") == f"Bearer {self.require_api_key}"

    def _reject_auth(self, h: _Handler) -> None:
        # Never echo the presented key back (tests check secrets do not leak).
        h.send_json(401, _openai_error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))

    def _chat(self, h: _Handler, raw: bytes, rid: dict[str, str]) -> None:
        body = self._parse_json(raw)
        if not self._authorized(h):
            with self.lock:
                self.attempts += 1
                self.requests.append(body if body is not None else {})
            self._record("401")
            return self._reject_auth(h)
        problem = None
        if body is None:
            problem = "We could not parse the JSON body of your request."
        elif not isinstance(body.get("model"), str):
            problem = "you must provide a model parameter"
        elif not isinstance(body.get("messages"), list) or not body["messages"]:
            problem = "'messages' must be a non-empty array"
        elif body.get("stream"):
            problem = "this fake server does not implement streaming"
        if problem is not None:
            with self.lock:
                self.attempts += 1
                self.requests.append(body if body is not None else {})
            self._record("bad_request")
            return h.send_json(400, _openai_error(problem, "invalid_request_error"), headers=rid)

        outcome = self._admit(body)
        if not self._sleep(self.latency_s):
            return h.drop()

        if outcome == "429":
            self._record(outcome)
            headers = {
                **rid,
                "Retry-After": f"{self.retry_after_s:g}",
                "retry-after-ms": str(int(round(self.retry_after_s * 1000))),
            }
            return h.send_json(
                429,
                _openai_error(
                    "Rate limit reached for requests. Please try again later.",
                    "rate_limit_error",
                    "rate_limit_exceeded",
                ),
                headers=headers,
            )
        if outcome == "500":
            self._record(outcome)
            return h.send_json(
                500,
                _openai_error(
                    "The server had an error while processing your request. Sorry about that!", "server_error"
                ),
                headers=rid,
            )
        if outcome == "timeout":
            self._record(outcome)
            self._sleep(self.timeout_sleep_s)
            return h.drop()
        if outcome == "malformed":
            self._record(outcome)
            return h.send_bytes(200, MALFORMED_BODY, headers=rid)

        if outcome == "empty":
            content = ""
        elif outcome == "refusal":
            content = REFUSAL_TEXT
        else:
            try:
                content = self.responder(body)
            except Exception as exc:  # report responder bugs as a 500 and keep them for the test to see
                with self.lock:
                    self.errors.append(exc)
                self._record("responder_error")
                return h.send_json(500, _openai_error(f"responder failed: {exc!r}", "server_error"), headers=rid)
        self._record(outcome, body)
        h.send_json(200, self._completion(body, content), headers=rid)

    def _completion(self, body: dict, content: str) -> dict:
        prompt_tokens = max(
            1, sum(estimate_tokens(_text_of(m.get("content"))) for m in body["messages"] if isinstance(m, dict))
        )
        completion_tokens = estimate_tokens(content)
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
        if body.get("logprobs"):
            top_k = int(body.get("top_logprobs") or 0)
            choice["logprobs"] = {"content": _fake_logprobs(content, top_k), "refusal": None}
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
        }


# ======================================================================================================
# Anthropic
# ======================================================================================================


def _anthropic_error(type_: str, message: str) -> dict:
    return {"type": "error", "error": {"type": type_, "message": message}}


class FakeAnthropicServer(_FakeServerBase):
    """Fake of ``POST /v1/messages`` (non-streaming), with simulated prompt caching.

    Auth: the key may come as ``x-api-key`` (public API) or ``Authorization: Bearer`` (what anthropic 2.14
    sends); none -> 401 authentication_error, wrong ``require_api_key`` -> 401, no ``anthropic-version``
    header -> 400 invalid_request_error.

    Fault kinds: "429" (rate_limit_error, retry-after headers), "529" (overloaded_error), "500" (api_error),
    "timeout", "malformed", "empty" (content ``[]``), "refusal" (text ``REFUSAL_TEXT``).
    Prompt caching: the system prompt up to its last block carrying ``cache_control`` is the cached prefix;
    its tokens are reported as ``cache_creation_input_tokens`` the first time it is seen and as
    ``cache_read_input_tokens`` afterwards, and are excluded from ``input_tokens`` (as the real API does).
    """

    fault_kinds = ("429", "529", "500", "timeout", "malformed", "empty", "refusal")
    default_faults = ("429", "529")
    models = ("claude-sonnet-4-5", "claude-haiku-4-5")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._cache: set[str] = set()

    @property
    def base_url(self) -> str:
        return self.root_url  # the SDK appends /v1/messages

    def clear_cache(self) -> None:
        with self.lock:
            self._cache.clear()

    def _route(self, h: _Handler, method: str, path: str, raw: bytes) -> None:
        rid = {"request-id": f"req_{uuid.uuid4().hex[:24]}"}
        if not (method == "POST" and path == "/v1/messages"):
            return h.send_json(404, _anthropic_error("not_found_error", "Not found"), headers=rid)
        body = self._parse_json(raw)

        # The public API authenticates with `x-api-key`; anthropic 2.14 sends `Authorization: Bearer <key>`
        # instead, so accept either.
        api_key = h.headers.get("x-api-key")
        bearer = h.headers.get("Authorization") or ""
        if not api_key and bearer.startswith("Bearer "):
            api_key = bearer[len("Bearer ") :]
        status, err = 0, None
        if not api_key:
            status, err = 401, _anthropic_error("authentication_error", "x-api-key header is required")
        elif self.require_api_key is not None and api_key != self.require_api_key:
            status, err = 401, _anthropic_error("authentication_error", "invalid x-api-key")
        elif not h.headers.get("anthropic-version"):
            status, err = 400, _anthropic_error("invalid_request_error", "anthropic-version: header is required")
        elif body is None:
            status, err = 400, _anthropic_error("invalid_request_error", "There was an error parsing the body")
        elif not isinstance(body.get("model"), str):
            status, err = 400, _anthropic_error("invalid_request_error", "model: Field required")
        elif not isinstance(body.get("max_tokens"), int):
            status, err = 400, _anthropic_error("invalid_request_error", "max_tokens: Field required")
        elif not isinstance(body.get("messages"), list) or not body["messages"]:
            status, err = 400, _anthropic_error("invalid_request_error", "messages: Field required")
        elif body.get("stream"):
            status, err = 400, _anthropic_error("invalid_request_error", "this fake does not implement streaming")
        if err is not None:
            with self.lock:
                self.attempts += 1
                self.requests.append(body if body is not None else {})
            self._record("401" if status == 401 else "bad_request")
            return h.send_json(status, err, headers=rid)

        outcome = self._admit(body)
        if not self._sleep(self.latency_s):
            return h.drop()

        if outcome in ("429", "529", "500"):
            self._record(outcome)
            if outcome == "429":
                headers = {
                    **rid,
                    "retry-after": f"{self.retry_after_s:g}",
                    "retry-after-ms": str(int(round(self.retry_after_s * 1000))),
                }
                return h.send_json(
                    429,
                    _anthropic_error("rate_limit_error", "Number of requests has exceeded your per-minute rate limit"),
                    headers=headers,
                )
            if outcome == "529":
                return h.send_json(529, _anthropic_error("overloaded_error", "Overloaded"), headers=rid)
            return h.send_json(500, _anthropic_error("api_error", "Internal server error"), headers=rid)
        if outcome == "timeout":
            self._record(outcome)
            self._sleep(self.timeout_sleep_s)
            return h.drop()
        if outcome == "malformed":
            self._record(outcome)
            return h.send_bytes(200, b'{"id": "msg_', headers=rid)

        if outcome == "empty":
            text = None
        elif outcome == "refusal":
            text = REFUSAL_TEXT
        else:
            try:
                text = self.responder(body)
            except Exception as exc:
                with self.lock:
                    self.errors.append(exc)
                self._record("responder_error")
                return h.send_json(500, _anthropic_error("api_error", f"responder failed: {exc!r}"), headers=rid)
        usage = self._usage(body, text or "")
        self._record(outcome, body)
        h.send_json(
            200,
            {
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [] if text is None else [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            },
            headers=rid,
        )

    def _usage(self, body: dict, text: str) -> dict:
        system = body.get("system")
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system or []
        blocks = [b for b in blocks if isinstance(b, dict)]
        cached_upto = max((i for i, b in enumerate(blocks) if b.get("cache_control")), default=-1)
        prefix = "\n".join(str(b.get("text", "")) for b in blocks[: cached_upto + 1])
        rest = "\n".join(str(b.get("text", "")) for b in blocks[cached_upto + 1 :])
        msgs_text = "\n".join(_text_of(m.get("content")) for m in body["messages"] if isinstance(m, dict))
        created = read = 0
        if cached_upto >= 0:
            key = request_key({"model": body["model"], "prefix": prefix})
            with self.lock:
                hit = key in self._cache
                self._cache.add(key)
            if hit:
                read = estimate_tokens(prefix) or 1
            else:
                created = estimate_tokens(prefix) or 1
        ttl_1h = any((b.get("cache_control") or {}).get("ttl") == "1h" for b in blocks)
        return {
            "input_tokens": max(1, estimate_tokens(rest) + estimate_tokens(msgs_text)),
            "output_tokens": estimate_tokens(text),
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 0 if ttl_1h else created,
                "ephemeral_1h_input_tokens": created if ttl_1h else 0,
            },
            "service_tier": "standard",
        }
