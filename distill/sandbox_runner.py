"""The process inside the sandbox (see distill/sandbox.py): isolate, drop privileges, run the code.

Started as `python -s -S -P -B distill/sandbox_runner.py` with a JSON payload on stdin
(`code`, `limits`, `preload`). Standard library only: no site-packages are on its path.

1. Import the `preload` modules while the interpreter's files can still be read (as root the code
   runs as `nobody`, who may not reach the interpreter's install, for example under /root).
2. unshare(2) a new network namespace (no interface but a down loopback: every connect fails)
   and a new PID namespace; as a non-root user, inside a new user namespace.
3. Fork: the child is PID 1 of the new namespace, so when it exits, or is killed, the kernel
   kills every process it started. The child dies with its parent (PR_SET_PDEATHSIG).
4. In the child: as root, switch to uid/gid `nobody` (all capabilities go), set the rlimits, then
   `exec` the code. The first stderr line reports which of these steps took effect.
"""

import contextlib
import ctypes
import importlib
import json
import os
import resource
import signal
import sys
import traceback

CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
NOBODY = 65534
REPORT_PREFIX = "distill-sandbox: "


def _user_process_count(uid: int) -> int:
    """Processes of `uid` right now: RLIMIT_NPROC counts all of them, not only ours."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def _block_sockets(event: str, args) -> None:
    # Best effort only (ctypes can bypass it): used when no network namespace can be made.
    if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo"):
        raise PermissionError(f"network access is disabled in the sandbox ({event})")


def _isolate(libc) -> dict:
    as_root = os.geteuid() == 0
    base = 0 if as_root else CLONE_NEWUSER
    for flags, report in (
        (CLONE_NEWNET | CLONE_NEWPID, {"network": "namespace", "processes": "pid_namespace"}),
        (CLONE_NEWNET, {"network": "namespace", "processes": "process_group"}),
        (0, {"network": "audit_hook", "processes": "process_group"}),
    ):
        if flags == 0 or libc.unshare(base | flags) == 0:
            return {**report, "user": "nobody" if as_root else "caller"}
    raise AssertionError("unreachable")


def _limit(limits: dict, already: int) -> None:
    mib = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_mb"] * mib,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_mb"] * mib,) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (already + limits["max_processes"],) * 2)


def main() -> None:
    payload = json.loads(sys.stdin.read())
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the code gets an empty stdin
    for name in payload["preload"]:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    libc = ctypes.CDLL(None, use_errno=True)
    # RLIMIT_NPROC counts every process of the uid: nobody starts near zero, a normal user does not.
    already = 0 if os.geteuid() == 0 else _user_process_count(os.getuid())
    report = _isolate(libc)
    if report["processes"] == "pid_namespace":
        child = os.fork()
        if child:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _, status = os.waitpid(child, 0)
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if report["user"] == "nobody":
        os.chown(".", NOBODY, NOBODY)  # the temp working directory is the only place it may write
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    _limit(payload["limits"], already)
    if report["network"] == "audit_hook":
        sys.addaudithook(_block_sockets)
    sys.stderr.write(REPORT_PREFIX + json.dumps(report) + "\n")
    sys.stderr.flush()
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(compile(payload["code"], "<sandboxed>", "exec"), namespace)
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
    finally:
        sys.stdout.flush()


if __name__ == "__main__":
    main()
