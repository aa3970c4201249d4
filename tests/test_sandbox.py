"""The sandbox contains each attack model-written code could make, and the test process survives.

Each test runs real hostile code in `distill.sandbox.run_python` and checks both sides: what the
code saw (its error) and what the host saw (no file, no connection, no leftover process).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import pytest

from distill.config import SandboxConfig
from distill.sandbox import group_members, run_python

LIMITS = SandboxConfig(cpu_s=1, wall_s=3.0, memory_mb=512, max_processes=16, file_size_mb=1)


def _no_leftovers(pgid: int) -> bool:
    deadline = time.monotonic() + 2
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not group_members(pgid)


def test_runs_code_in_a_fresh_temp_dir_with_a_clean_env():
    result = run_python(
        "import os, math\n"
        "open('scratch.txt', 'w').write('ok')\n"
        "print(math.factorial(5), os.path.basename(os.getcwd()), sorted(os.environ))",
        LIMITS,
    )
    assert result.ok, result.stderr
    assert result.stdout.split()[:2] == ["120", "work"]
    assert "ANTHROPIC_API_KEY" not in result.stdout and "PYTHONPATH" not in result.stdout
    assert result.isolation["network"] == "namespace"


def test_infinite_loop_is_killed():
    start = time.monotonic()
    result = run_python("while True:\n    pass\n", LIMITS)
    assert not result.ok
    # RLIMIT_CPU (SIGXCPU = 24, then SIGKILL) or the wall clock, whichever comes first.
    assert result.timed_out or result.returncode in (128 + 24, 128 + 9)
    assert time.monotonic() - start < LIMITS.wall_s + 3
    assert _no_leftovers(result.pid)


def test_fork_bomb_is_contained_and_cleaned_up():
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run_python(bomb, LIMITS)
    assert not result.ok
    assert _no_leftovers(result.pid)
    if result.isolation.get("user") == "nobody":  # only then is the count exact: nobody runs nothing else
        assert sum(1 for p in os.listdir("/proc") if p.isdigit() and _uid(p) == 65534) <= 1


def _uid(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def test_huge_allocation_fails_inside():
    result = run_python("x = bytearray(10 * 1024 ** 3)\nprint('allocated')", LIMITS)
    assert not result.ok
    assert "MemoryError" in result.stderr
    assert "allocated" not in result.stdout


def test_write_outside_the_temp_dir_is_refused(tmp_path):
    target = tmp_path / "escaped.txt"
    result = run_python(f"open({str(target)!r}, 'w').write('pwned')", LIMITS)
    if result.isolation.get("user") != "nobody":
        pytest.skip("not root: the code keeps the caller's uid, so only RLIMIT_FSIZE applies (see distill/sandbox.py)")
    assert not result.ok
    assert "PermissionError" in result.stderr
    assert not target.exists()


def test_file_size_is_capped():
    result = run_python("open('big.bin', 'wb').write(b'x' * (4 * 1024 * 1024))", LIMITS)
    assert not result.ok
    assert "File too large" in result.stderr


def test_socket_connect_gets_no_connection():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(4)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        with contextlib.suppress(OSError):  # closed: nothing connected
            accepted.append(server.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        result = run_python(
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')", LIMITS
        )
        server.close()  # ends the accept() if nothing came
        thread.join()
    finally:
        server.close()
    assert "connected" not in result.stdout
    assert not result.ok
    assert accepted == []
    if result.isolation["network"] == "namespace":
        assert "Network is unreachable" in result.stderr


def test_parent_survives_all_attacks_in_a_row():
    attacks = [
        "while True: pass",
        "x = bytearray(10 * 1024 ** 3)",
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    ]
    for code in attacks:
        assert not run_python(code, SandboxConfig(cpu_s=1, wall_s=1.5, memory_mb=256, max_processes=8)).ok
    assert run_python("print(sum(range(10)))", LIMITS).stdout.strip() == "45"
