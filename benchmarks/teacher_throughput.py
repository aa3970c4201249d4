"""Teacher client throughput against a local OpenAI-compatible server with injected latency.

    python benchmarks/teacher_throughput.py [--requests 256] [--latency 0.2]

Measures (printed as ratios):
- concurrency 16 against concurrency 1 on the same number of prompts (target: >= 13x);
- a second run over the same prompts: calls made (target: 0) and its time as a share of the
  first run's (target: < 5%).
The server (benchmarks/latency_server.py) runs in its own process, as a real server would: the
real `openai` SDK talks HTTP to it on 127.0.0.1, and it waits `--latency` seconds before every
answer. It reports how many calls it served, so "0 calls" is counted server-side.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.teachers import TeacherCache, TeacherClient, TeacherRequest  # noqa: E402
from distill.teachers.ledger import CostLedger  # noqa: E402
from distill.teachers.providers import OpenAITeacher  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class ServerProcess:
    def __enter__(self):
        return self

    def __init__(self, latency: float):
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "benchmarks" / "latency_server.py"), "--latency", str(latency)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url = self.proc.stdout.readline().strip()

    def attempts(self) -> int:
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def timed_run(base_url: str, cache_dir: Path, requests: list[TeacherRequest], concurrency: int) -> tuple[float, int]:
    teacher = OpenAITeacher("fake-teacher", base_url, None, timeout_s=30, max_retries=2)
    client = TeacherClient(teacher, TeacherCache(cache_dir), CostLedger(0.15, 0.6), concurrency, progress=False)
    start = time.perf_counter()
    results = client.run(requests)
    seconds = time.perf_counter() - start
    client.close()
    assert all(r.response is not None for r in results), [r.error for r in results if r.error][:3]
    return seconds, client.ledger.calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    requests = [
        TeacherRequest(
            ({"role": "system", "content": "You write SQLite."}, {"role": "user", "content": f"Question number {i}?"}),
            0.0,
            64,
        )
        for i in range(args.requests)
    ]
    with ServerProcess(args.latency) as srv, tempfile.TemporaryDirectory() as tmp:
        serial, serial_calls = timed_run(srv.base_url, Path(tmp) / "c1", requests, concurrency=1)
        parallel, parallel_calls = timed_run(srv.base_url, Path(tmp) / "c16", requests, concurrency=16)
        before = srv.attempts()
        replay, replay_calls = timed_run(srv.base_url, Path(tmp) / "c16", requests, concurrency=16)
        server_calls = srv.attempts() - before
    speedup = serial / parallel
    print(f"{args.requests} prompts, {args.latency * 1000:.0f} ms injected latency per call")
    print(f"concurrency 1:  {serial:7.3f} s  ({serial_calls} calls)")
    print(f"concurrency 16: {parallel:7.3f} s  ({parallel_calls} calls)")
    print(f"throughput ratio 16 vs 1: {speedup:.1f}x (target >= 13x) {'PASS' if speedup >= 13 else 'FAIL'}")
    share = replay / parallel
    print(
        f"second run over the same prompts: {replay:.3f} s, {replay_calls} calls (server saw {server_calls}); "
        f"{share:.1%} of the first run's time (target: 0 calls, < 5%) "
        f"{'PASS' if server_calls == 0 and share < 0.05 else 'FAIL'}"
    )
    print(f"  ({replay / serial:.2%} of the concurrency-1 run's time)")


if __name__ == "__main__":
    main()
