"""The Python code in a model's reply: shared by grading (distill/tasks/code.py) and by the
parsing of generation proposals (distill/tasks/code_generation.py)."""

from __future__ import annotations

import ast
import re

from distill.tasks.reply import fenced_blocks, final_answer

_CODE_START = re.compile(r"^(?:def |async def |class |import |from |@)", re.MULTILINE)


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _longest_parsing_prefix(text: str) -> str:
    """Drop trailing lines (prose after the code) until what is left parses."""
    lines = text.rstrip().splitlines()
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end]).rstrip()
        if parses(candidate):
            return candidate
    return text.strip()


def extract_code(text: str) -> str:
    """The Python code in model text: the first fenced block that parses (python fences first),
    else the text from the first `def`/`import`/`class` line, with trailing prose dropped.
    Reasoning blocks (`<think>…</think>`) are removed first; an unclosed one means no answer ("")."""
    answer = final_answer(text)
    if answer is None:
        return ""
    text = answer
    fences = fenced_blocks(text)
    if fences:
        python = [body for lang, body in fences if lang in ("python", "py", "python3")]
        bodies = python or [body for _, body in fences]
        return next((b.strip("\n") for b in bodies if parses(b)), bodies[0].strip("\n"))
    if parses(text) and text.strip():
        return text.strip("\n")
    start = _CODE_START.search(text)
    if start is None:
        return text.strip("\n")  # maybe a bare function body (completion style); see `program`
    return _longest_parsing_prefix(text[start.start() :])
