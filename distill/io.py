"""File I/O that never leaves half-written outputs, and JSONL reading with file:line errors."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from distill.errors import DataError


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            # mkstemp makes the file 0600; give it the mode a plain open() would.
            os.chmod(tmp_path, 0o666 & ~current_umask())
            with tmp_path.open("rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a staging folder beside `path`; it replaces `path` only if the block succeeds, so a
    reader sees the old folder or the complete new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it 0700
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_text(path: str | os.PathLike) -> str:
    """A user-supplied text file, decoded as UTF-8 (a leading byte-order mark is dropped).

    Raises DataError naming the file and line when the file is missing or a line is not valid
    UTF-8 (for example a file saved as latin-1), instead of a bare UnicodeDecodeError.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        lineno = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(
            f"{path}:{lineno}: not valid UTF-8 (byte 0x{data[e.start]:02x} at column {column}); save the file as UTF-8"
        ) from None


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file; DataError naming the file (and line) when it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: malformed JSON: {e.msg} (column {e.colno})") from None


def read_jsonl_numbered(path: str | os.PathLike) -> list[tuple[int, dict]]:
    """(1-based line number, object) for each line of a JSONL file; blank lines are skipped and
    anything else that is not a JSON object, or not UTF-8, raises DataError naming the file and line."""
    path = Path(path)
    rows = []
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and friends, and line numbers
    # must be the ones an editor shows.
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno}: malformed JSON: {e.msg} (column {e.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        try:  # "\udcff" escapes parse, but are no text: nothing could be written back from them
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise DataError(
                f"{path}:{lineno}: a string holds an unpaired surrogate escape ({e.object[e.start]!r}), "
                "which is not valid Unicode"
            ) from None
        rows.append((lineno, obj))
    return rows
