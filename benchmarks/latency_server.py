"""A minimal OpenAI-compatible chat server on asyncio, with injected latency, for benchmarks.

One event loop serves every connection, so the server adds well under a millisecond per call
and the benchmark measures the client, not the fake. It answers POST /v1/chat/completions with a
fixed completion after `--latency` seconds, and prints the number of calls served on each line
it reads from stdin (so a benchmark can count calls server-side).

    python benchmarks/latency_server.py --latency 0.2     # prints its base url first
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

calls = 0


def completion(request: dict) -> bytes:
    user = request["messages"][-1]["content"]
    body = {
        "id": f"chatcmpl-{calls}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": f"answer: {user}"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": len(user) // 4 + 1, "completion_tokens": 3, "total_tokens": len(user) // 4 + 4},
    }
    return json.dumps(body).encode()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float) -> None:
    global calls
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            request = json.loads(await reader.readexactly(length)) if length else {}
            await asyncio.sleep(latency)
            calls += 1
            payload = completion(request)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(latency: float) -> None:
    server = await asyncio.start_server(lambda r, w: handle(r, w, latency), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    async with server:
        while await stdin.readline():
            print(calls, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    asyncio.run(main(parser.parse_args().latency))
