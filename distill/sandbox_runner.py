"""The process inside the sandbox (see distill/sandbox.py): isolate, drop privileges, run the code.

Started as `python -s -S -P -B distill/sandbox_runner.py` with a JSON payload on stdin
(`code`, `limits`, `preload`, `result`). Standard library only: no site-packages are on its path.

1. Import the `preload` modules, and open a directory handle on each folder of the standard
   library, while the interpreter's files can still be read: as root the code runs as `nobody`,
   who may not reach the interpreter's install (a pyenv under /root, say). The library's folders
   are world-readable; only the path to them is not. `sys.path` then names them through
   /proc/self/fd/N, which needs no search permission on the folders above.
2. unshare(2) a new network namespace (no interface but a down loopback: every connect fails)
   and a new PID namespace; as a non-root user, inside a new user namespace.
3. Fork: the child is PID 1 of the new namespace, so when it exits, or is killed, the kernel
   kills every process it started. The child dies with its parent (PR_SET_PDEATHSIG).
4. In the child: as root, switch to uid/gid `nobody` (all capabilities go), set the rlimits, then
   `exec` the code. The first stderr line reports which of these steps took effect.
5. If the code runs to its end, send the variable `result.name` as `<secret>\n<json>` on the
   result pipe, a file descriptor of its own that the code's subprocesses do not inherit.
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
PR_SET_DUMPABLE = 4
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


def _library_handles() -> dict[str, str]:
    """Each folder on sys.path -> /proc/self/fd/N of a handle on it, opened now, as root."""
    handles = {}
    for entry in sys.path:
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY)  # close-on-exec: subprocesses get none
        except OSError:
            continue  # a zip that does not exist, say
        handles[entry] = f"/proc/self/fd/{fd}"
    return handles


def _reach_library_through(handles: dict[str, str]) -> None:
    """Point sys.path, and the packages already imported (importlib, encodings, …), at the handles:
    a submodule is found on its package's __path__, not on sys.path."""

    def moved(path: str) -> str:
        for entry, handle in handles.items():
            if path == entry or path.startswith(entry + os.sep):
                return handle + path[len(entry) :]
        return path

    sys.path[:] = list(handles.values())
    for module in list(sys.modules.values()):
        package_path = getattr(module, "__path__", None)
        if isinstance(package_path, list):
            package_path[:] = [moved(p) for p in package_path]
    importlib.invalidate_caches()


def _send_result(result: dict, namespace: dict) -> None:
    value = namespace.get(result["name"])
    data = (result["secret"] + "\n" + json.dumps(value, default=repr)).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(result["fd"], view) :]
    os.close(result["fd"])


def _limit(limits: dict, already: int) -> None:
    mib = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_mb"] * mib,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_mb"] * mib,) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (already + limits["max_processes"],) * 2)


def main() -> None:
    payload = json.loads(sys.stdin.read())
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the code gets an empty stdin
    result = payload.pop("result")
    os.set_inheritable(result["fd"], False)
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
    report["stdlib"] = "paths"
    if report["user"] == "nobody":
        library = _library_handles()
        os.chown(".", NOBODY, NOBODY)  # the temp working directory is the only place it may write
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        # A uid change makes the process undumpable, which hides /proc/self/fd from itself.
        if libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0 and library:
            _reach_library_through(library)
            report["stdlib"] = "directory_handles"
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
        # The code may have replaced or closed sys.stdout: flush the real one, whatever happens.
        with contextlib.suppress(Exception):
            sys.__stdout__.flush()
    if result["name"]:
        _send_result(result, namespace)


if __name__ == "__main__":
    main()
