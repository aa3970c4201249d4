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
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from distill.config import SandboxConfig

RUNNER = Path(__file__).with_name("sandbox_runner.py")
REPORT_PREFIX = "distill-sandbox: "
OUTPUT_CAP = 256 * 1024
"""Bytes of stdout/stderr read back; the files themselves are capped by RLIMIT_FSIZE."""

# Imported before privileges drop: as `nobody` the interpreter's own files may be unreadable, so
# the code can import these (and anything already loaded) but nothing else from disk.
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
    process_group), user (nobody | caller). Empty if the runner died before reporting."""
    pid: int = 0
    """The runner's pid, which is also its session and process group id."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


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


def _read(path: Path) -> str:
    with path.open("rb") as f:
        return f.read(OUTPUT_CAP).decode("utf-8", errors="replace")


def run_python(code: str, limits: SandboxConfig | None = None) -> SandboxResult:
    """Execute `code` as a Python program in the sandbox and wait for it (at most `wall_s`)."""
    limits = limits or SandboxConfig()
    payload = json.dumps({"code": code, "limits": asdict(limits), "preload": PRELOAD}).encode()
    base = Path(tempfile.mkdtemp(prefix="distill-sandbox-"))
    work = base / "work"
    work.mkdir()
    start = time.perf_counter()
    timed_out = False
    try:
        # Output goes to files, not pipes: a program printing forever fills a capped file, not our memory.
        with (base / "stdout").open("wb") as out, (base / "stderr").open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-s", "-S", "-P", "-B", str(RUNNER)],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                cwd=work,
                env=_clean_env(work),
                start_new_session=True,
                close_fds=True,
            )
            try:
                proc.communicate(payload, timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill_group(proc.pid)  # always: nothing it started may outlive the run
                proc.wait()
                if timed_out:
                    _wait_gone(proc.pid)
        seconds = time.perf_counter() - start
        stdout, stderr = _read(base / "stdout"), _read(base / "stderr")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    isolation = {}
    if stderr.startswith(REPORT_PREFIX):
        first, _, stderr = stderr.partition("\n")
        isolation = json.loads(first[len(REPORT_PREFIX) :])
    code_ = proc.returncode
    returncode = None if timed_out else (128 - code_ if code_ < 0 else code_)
    return SandboxResult(returncode, stdout, stderr, timed_out, round(seconds, 3), isolation, proc.pid)
