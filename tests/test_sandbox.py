"""The sandbox contains each attack model-written code could make, and the test process survives.

Each test runs real hostile code in `distill.sandbox.run_python` and checks both sides: what the
code saw (its error) and what the host saw (no file, no connection, no leftover process).
"""

from __future__ import annotations

import contextlib
import json
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


def test_the_verdict_does_not_depend_on_what_the_code_prints():
    # Megabytes of output, then the result: the channel is a pipe of its own, never stdout.
    code = "for i in range(200_000):\n    print('checking', i)\nanswer = {'done': True}\n"
    result = run_python(code, LIMITS, result_name="answer")
    assert result.ok and result.reported and result.value == {"done": True}
    assert "dropped" in result.stdout  # the middle was drained, not kept
    assert result.stdout.startswith("checking 0\n") and result.stdout.rstrip().endswith("checking 199999")


def test_printing_the_channel_does_not_fake_a_verdict():
    # Whatever it prints, a program that stops early reports nothing.
    result = run_python("import sys\nprint('answer = 1')\nanswer = 1\nsys.exit(0)\n", LIMITS, result_name="answer")
    assert result.ok and not result.reported and result.value is None
    fails = run_python("answer = 1\nraise ValueError('no')\n", LIMITS, result_name="answer")
    assert not fails.ok and not fails.reported


def test_a_subprocess_does_not_inherit_the_result_channel():
    code = (
        "import os, subprocess, sys\n"
        "fds = subprocess.run(['/bin/ls', '/proc/self/fd'], capture_output=True, text=True).stdout.split()\n"
        "answer = sorted(int(f) for f in fds)\n"
    )
    result = run_python(code, LIMITS, result_name="answer")
    assert result.reported, result.stderr
    assert max(result.value) <= 3  # stdin, stdout, stderr, and ls's own handle on the folder


_GUI = {"tkinter", "turtle", "turtledemo", "idlelib", "_tkinter"}
# Importing these acts on the world (opens a browser, prints): not a sandbox question.
_SIDE_EFFECTS = {"antigravity", "this"}


def test_every_stdlib_module_that_imports_here_imports_in_the_sandbox():
    import subprocess
    import sys

    names = sorted(set(sys.stdlib_module_names) - _GUI - _SIDE_EFFECTS)
    probe = (
        "import importlib, json, sys\n"
        f"names = {names!r}\n"
        "ok = []\n"
        "for name in names:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        ok.append(name)\n"
        "    except BaseException:\n"
        "        pass\n"
    )
    parent = subprocess.run(
        [sys.executable, "-c", probe + "print(json.dumps(ok))"], capture_output=True, text=True, timeout=120
    )
    expected = set(json.loads(parent.stdout.strip().splitlines()[-1]))
    assert {"calendar", "queue", "base64", "zlib", "pprint", "csv"} <= expected
    limits = SandboxConfig(cpu_s=30, wall_s=60.0, memory_mb=1024, max_processes=16, file_size_mb=1)
    result = run_python(probe + "answer = ok\n", limits, result_name="answer")
    assert result.reported, result.stderr[-2000:]
    assert sorted(expected - set(result.value)) == []
    if result.isolation.get("user") == "nobody":
        assert result.isolation["stdlib"] == "directory_handles"


def test_stdlib_access_keeps_every_limit():
    # The library is reachable, the rest of the interpreter's tree is not writable, and a spawned
    # subprocess is still inside the namespace and the limits.
    code = (
        "import calendar, subprocess, sys\n"
        "child = subprocess.run(['/bin/sh', '-c', 'echo $$'], capture_output=True, text=True)\n"
        "answer = [calendar.isleap(2024), child.returncode, child.stdout.strip()]\n"
    )
    result = run_python(code, LIMITS, result_name="answer")
    assert result.reported, result.stderr[-2000:]
    leap, _, pid = result.value
    assert leap is True
    if result.isolation.get("processes") == "pid_namespace" and pid:
        assert int(pid) < 100  # a pid of the sandbox's own namespace, not the host's
