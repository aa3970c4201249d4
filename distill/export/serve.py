"""Serving the exported GGUF: llama-cpp-python's OpenAI-compatible server, with the task's prompt
opening applied to every chat request that does not bring its own system prompt."""

from __future__ import annotations

import json
from pathlib import Path

from distill.export.prompt import PromptSpec

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
MODEL_ALIAS = "distill-student"


class PromptPrefixMiddleware:
    """ASGI middleware that rewrites chat request bodies: a client sends only the question, and the
    model still sees the system prompt and worked examples it was trained with."""

    def __init__(self, app, spec: PromptSpec):
        self.app = app
        self.spec = spec

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in CHAT_PATHS:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            request = json.loads(body)
            if isinstance(request.get("messages"), list):
                request["messages"] = self.spec.with_prefix(request["messages"])
                body = json.dumps(request).encode()
        except (json.JSONDecodeError, AttributeError):
            pass  # not ours to judge: the server answers malformed requests itself
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        scope = {**scope, "headers": headers}
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()  # after the body: disconnects and the like
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def build_app(gguf: Path, spec: PromptSpec, n_ctx: int = 4096, threads: int = 2):
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    app = create_app(
        server_settings=ServerSettings(),
        model_settings=[
            ModelSettings(
                model=str(gguf),
                model_alias=MODEL_ALIAS,
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                flash_attn=True,  # as everywhere else the project runs llama.cpp (load_llama)
                verbose=False,
            )
        ],
    )
    return PromptPrefixMiddleware(app, spec)


def serve(gguf: Path, spec: PromptSpec, host: str, port: int, n_ctx: int = 4096, threads: int = 2) -> None:
    import uvicorn

    print(f"serving {gguf} as model {MODEL_ALIAS!r} on http://{host}:{port}/v1 (task {spec.task}, prompt applied)")
    uvicorn.run(build_app(gguf, spec, n_ctx, threads), host=host, port=port, log_level="warning")
