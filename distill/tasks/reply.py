"""What a model's reply is made of, before any task parses it: reasoning blocks and fenced code.

Reasoning models served through OpenAI-compatible servers (DeepSeek-R1, QwQ, Qwen3 and others)
put `<think>…</think>` before the answer, and the block often holds drafts (SQL, code, JSON) that
the final answer replaces. Every parse of model text starts from `final_answer`, so a draft is
never graded, voted on or turned into a training pair.
"""

from __future__ import annotations

import re

_TAGS = "think|thinking|reasoning|reflection"
# A reasoning block opens at the start of the reply or of a line; the same text in the middle of a
# line (a string literal '<think>', code that strips the tags, prose naming them) is content.
_OPEN = re.compile(rf"(?:\A|\n)[ \t]*<({_TAGS})\b[^>\n]*>", re.IGNORECASE)
# A closing tag with no opening one (the chat template put that in the prompt) counts only where
# it stands at the start or the end of a line.
_LONE_CLOSE = re.compile(rf"(?:\A|\n)[ \t]*</(?:{_TAGS})\s*>|</(?:{_TAGS})\s*>[ \t]*(?=\n|\Z)", re.IGNORECASE)

# A fence: ``` with an optional info string, then its body up to the closing ``` (or the reply's
# end, when the model ran out of tokens).
_FENCE = re.compile(r"```([^\n`]*)\n(.*?)(?:```|\Z)", re.DOTALL)
_LANGUAGE = re.compile(r"[\w+.#-]*")


def final_answer(text: str) -> str | None:
    """`text` without its reasoning blocks; None when a block is never closed (the model ran out
    of tokens while still reasoning, so there is no answer)."""
    out, pos = [], 0
    while (opening := _OPEN.search(text, pos)) is not None:
        out.append(text[pos : opening.start()])
        closing = re.compile(rf"</{opening.group(1)}\s*>", re.IGNORECASE).search(text, opening.end())
        if closing is None:
            return None
        out.append("\n")
        pos = closing.end()
    rest = text[pos:]
    if not out:  # no opening tag anywhere: everything before a lone closing tag is reasoning
        lone = list(_LONE_CLOSE.finditer(rest))
        if lone:
            rest = rest[lone[-1].end() :]
    return "".join(out) + rest


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every ``` fence, in order; the language is lower-case, "" if none. An
    info string that is not a language name is the body's first line (```SELECT 1\\n…)."""
    blocks = []
    for info, body in _FENCE.findall(text):
        info = info.strip()
        if _LANGUAGE.fullmatch(info):
            blocks.append((info.lower(), body))
        else:
            blocks.append(("", info + "\n" + body))
    return blocks


def outside_fences(text: str) -> str:
    """`text` with every fence replaced by a blank line."""
    return _FENCE.sub("\n\n", text)
