"""Run untrusted Python (model-written code, its tests) in a contained subprocess.

Every run gets a fresh interpreter (distill/sandbox_runner.py) with a clean environment, a fresh
temp working directory, its own session (process group), and the limits of `task.sandbox`:

| attack | what stops it | enforced by |
|---|---|---|
| infinite loop | RLIMIT_CPU, and a wall-clock SIGKILL of the whole process group | kernel |
| huge allocation | RLIMIT_AS: the allocation raises MemoryError | kernel |
| fork bomb | RLIMIT_NPROC; PID namespace, so everything dies with the run | kernel |
| network | a new network namespace with no usable interface: connect fails | kernel |
| writing outside the temp dir | as root: runs as uid `nobody`; RLIMIT_FSIZE caps file size | kernel (DAC) |

What each run actually got is in `SandboxResult.isolation`, because it depends on the machine:
- As root (the usual container), the code runs as `nobody` in new network and PID namespaces.
  `nobody` can write only where anyone may (its temp dir, and world-writable places such as
  /tmp and /dev/shm); everything owned by root or another user is out of reach.
- As a normal user, with unprivileged user namespaces (most distributions), the network and
  PID namespaces work the same, but the code keeps the caller's uid, so writes outside the temp
  dir are not prevented: only RLIMIT_FSIZE bounds them. RLIMIT_NPROC counts the user's other
  processes too, so the limit is set to their current count plus `max_processes`.
- Without namespaces, the network is blocked only by a Python audit hook (best effort:
  ctypes can bypass it) and leftover processes are killed through the process group only.

A program's result (`run_python(..., result_name=...)`) travels on a pipe of its own, behind a
per-run secret, once the program has run to its end: stdout and stderr are drained and capped, so
what the code prints can neither drown the verdict nor fake it. (Code that sets out to forge it
would have to find the secret in its own process's memory: this guards against accidents and
chatty code, not a deliberate attack on the grader.)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from distill.config import SandboxConfig

RUNNER = Path(__file__).with_name("sandbox_runner.py")
REPORT_PREFIX = "distill-sandbox: "
OUTPUT_CAP = 256 * 1024
"""Bytes kept of stdout and of stderr, from each end: the first (the isolation report) and the
last (a traceback). What lies between is drained and dropped, so printing cannot fill memory."""
RESULT_CAP = 16 * 1024 * 1024
"""Bytes read from the result pipe; a larger result counts as no result."""

# Imported before privileges drop, to save each run the imports; anything else of the standard
# library still imports afterwards (the runner reaches it through open directory handles).
PRELOAD = (
    *("abc", "array", "bisect", "cmath", "collections", "collections.abc", "copy", "dataclasses", "datetime"),
    *("decimal", "encodings.idna", "enum", "fractions", "functools", "hashlib", "heapq", "itertools", "json"),
    *("math", "numbers", "operator", "random", "re", "socket", "statistics", "string", "struct", "textwrap"),
    *("time", "typing", "unicodedata"),
)


@dataclass(frozen=True)
class SandboxResult:
    returncode: int | None
    """Exit status; 128 + N when killed by signal N; None if it never finished."""
    stdout: str
    stderr: str
    timed_out: bool
    """Killed by the wall clock."""
    seconds: float
    isolation: dict = field(default_factory=dict)
    """What took effect: network (namespace | audit_hook), processes (pid_namespace |
    process_group), user (nobody | caller), stdlib (directory_handles | paths). Empty if the runner
    died before reporting."""
    pid: int = 0
    """The runner's pid, which is also its session and process group id."""
    value: object = None
    """With `result_name`: that variable's value once the program ran to its end, as JSON
    (`default=repr`). It travels on a pipe of its own, behind a per-run secret, so nothing the code
    prints can hide or fake it. None if the program did not reach its end."""
    reported: bool = False
    """The runner delivered `value` (the program ran to its end)."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


class _Drain(threading.Thread):
    """Reads a pipe to its end, keeping the first and last `cap` bytes."""

    def __init__(self, fd: int, cap: int):
        super().__init__(daemon=True)
        self.fd, self.cap = fd, cap
        self.head, self.tail, self.total = bytearray(), bytearray(), 0

    def run(self) -> None:
        try:
            while chunk := os.read(self.fd, 65536):
                self.total += len(chunk)
                room = self.cap - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                if chunk:
                    self.tail = (self.tail + chunk)[-self.cap :]
        except OSError:
            pass
        finally:
            os.close(self.fd)

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        middle = f"\n[… {cut} bytes of output dropped …]\n".encode() if cut > 0 else b""
        return (bytes(self.head) + middle + bytes(self.tail)).decode("utf-8", errors="replace")


def _clean_env(home: Path) -> dict:
    # Nothing of ours (API keys, paths) leaks in; a fixed hash seed makes set order repeatable.
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def _wait_gone(pgid: int, timeout_s: float = 2.0) -> None:
    # SIGKILL is asynchronous: give the kernel a moment to tear the namespace down.
    deadline = time.monotonic() + timeout_s
    while group_members(pgid) and time.monotonic() < deadline:
        _kill_group(pgid)
        time.sleep(0.02)


def run_python(code: str, limits: SandboxConfig | None = None, result_name: str | None = None) -> SandboxResult:
    """Execute `code` as a Python program in the sandbox and wait for it (at most `wall_s`).

    With `result_name`, the program's variable of that name is sent back when the program runs to
    its end (`SandboxResult.value`); the verdict then depends on that channel alone, never on what
    the code printed."""
    limits = limits or SandboxConfig()
    secret = secrets.token_hex(16)
    result_read, result_write = os.pipe()
    payload = {
        "code": code,
        "limits": asdict(limits),
        "preload": PRELOAD,
        "result": {"fd": result_write, "name": result_name, "secret": secret},
    }
    base = Path(tempfile.mkdtemp(prefix="distill-sandbox-"))
    work = base / "work"
    work.mkdir()
    start = time.perf_counter()
    timed_out = False
    drains = []
    try:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-s", "-S", "-P", "-B", str(RUNNER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=work,
                env=_clean_env(work),
                start_new_session=True,
                close_fds=True,
                pass_fds=(result_write,),
            )
        finally:
            os.close(result_write)  # the child holds the only write end: EOF once it is gone
        # Pipes, each drained by a thread: output beyond the caps is read and dropped, so neither
        # our memory nor a file-size limit decides how a chatty program ends.
        drains = [_Drain(os.dup(proc.stdout.fileno()), OUTPUT_CAP), _Drain(os.dup(proc.stderr.fileno()), OUTPUT_CAP)]
        drains.append(_Drain(result_read, RESULT_CAP))
        result_read = -1
        proc.stdout.close()
        proc.stderr.close()
        for drain in drains:
            drain.start()
        try:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(json.dumps(payload).encode())
                proc.stdin.close()
            proc.wait(timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc.pid)  # always: nothing it started may outlive the run
            proc.wait()
            if timed_out:
                _wait_gone(proc.pid)
        seconds = time.perf_counter() - start
        for drain in drains:
            drain.join(timeout=2.0)  # a process that escaped the group may hold a pipe open
        stdout, stderr, delivered = drains[0].text(), drains[1].text(), drains[2]
    finally:
        if result_read != -1:
            os.close(result_read)
        shutil.rmtree(base, ignore_errors=True)
    isolation = {}
    if stderr.startswith(REPORT_PREFIX):
        first, _, stderr = stderr.partition("\n")
        isolation = json.loads(first[len(REPORT_PREFIX) :])
    value, reported = _delivered(delivered, secret)
    code_ = proc.returncode
    returncode = None if timed_out else (128 - code_ if code_ < 0 else code_)
    return SandboxResult(
        returncode, stdout, stderr, timed_out, round(seconds, 3), isolation, proc.pid, value, reported and not timed_out
    )


def _delivered(drain: _Drain, secret: str) -> tuple[object, bool]:
    """The value the runner sent: `<secret>\n<json>`, whole; anything else is no value."""
    if drain.total > RESULT_CAP or drain.total != len(drain.head):
        return None, False
    head, _, body = bytes(drain.head).partition(b"\n")
    if head != secret.encode():
        return None, False
    try:
        return json.loads(body), True
    except ValueError:
        return None, False
