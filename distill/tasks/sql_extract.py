"""The SQL query in a model's reply: where it starts, where it ends, and which one it is.

The rules (README → "How the SQL is taken from a reply") are decided by SQLite's own grammar,
never sqlglot's: SQLite runs valid queries that sqlglot cannot parse, so sqlglot never decides
where a statement ends.

- Reasoning blocks (`<think>…</think>`) are removed first; an unclosed one means no answer.
- A candidate starts at SELECT or WITH at the start of the reply, of a line (after a list or
  quote marker such as `-`, `1.` or `>`) or of a fence, or right after a colon. It never starts
  inside an unfinished query: after UNION/INTERSECT/EXCEPT, or where the SQL before it is
  incomplete (an open parenthesis, `… WHERE id IN`), so a nested SELECT is never promoted.
- Inside a fence, the statement runs to a `;` outside quotes and comments, or to the fence's end.
- Outside a fence, it runs to such a `;` or to the end of the reply, less trailing prose: it ends
  where a sentence ends on the first line that SQLite rejects as a syntax error (`… WHERE id > 1.
  This returns …`), or else before that line, if what comes before is a complete statement. A
  final period (`… FROM singer.`) is dropped only in a second candidate after the text as written,
  since a name cut short ends the same way. A reply cut off mid-query is therefore graded as
  written, an error, never as a shorter query it starts with. A blank line alone never ends a
  statement.
- Candidates come from SQL fences, other fences, the text outside fences, inline code, or, only
  when there is none of those, an upper-case SELECT or WITH in the middle of a sentence. The first
  that compiles on the database wins when the caller can check that (`prepares`); else the first
  that SQLite parses; else the first, as written, so the grader can report why it fails.
- Quoting is kept as written: `x`, "x" and [x] identifiers all survive.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable

from distill.tasks.reply import fenced_blocks, final_answer, outside_fences

_SQL_LANGS = ("sql", "sqlite", "sqlite3")
# A one-line fence (```sql SELECT 1```), whose body may hold backticked identifiers: the closing
# fence is the first ``` not followed by another backtick.
_ONE_LINE_FENCE = re.compile(r"```(?:sql|sqlite3?)?[ \t]*([^\n]+?)[ \t]*```(?!`)", re.IGNORECASE)
# Inline code: ``…`` (which may hold single backticks) or `…`.
_INLINE_CODE = re.compile(r"``[ \t]?([^\n]+?)[ \t]?``(?!`)|(?<!`)`([^`\n]+)`(?!`)")
_QUERY_WORD = re.compile(r"\s*(?:SELECT|WITH)\b", re.IGNORECASE)
# Where a candidate may start: the start of the text or of a line (after a list or quote marker),
# or right after a colon.
_START = re.compile(r"(?:^|\n|:)[ \t]*(?:(?:[-*+>]|\d{1,3}[.)])[ \t]+)?((?:SELECT|WITH)\b)", re.IGNORECASE)
# The last resort: an upper-case keyword after a space in a sentence ("…, use SELECT count(*) …").
_MID_SENTENCE = re.compile(r"(?<=[ \t])(?:SELECT|WITH)\b")
_SET_OPERATOR_END = re.compile(r"\b(?:UNION(?:\s+ALL)?|INTERSECT|EXCEPT)\s*(?:--[^\n]*\s*)*\Z", re.IGNORECASE)
_FROM_WORD = re.compile(r"\bFROM\b", re.IGNORECASE)
_CONTINUATION = re.compile(
    r"\s*(?:[+/%<>=!|,]|(?:FROM|WHERE|AND|OR|NOT|GROUP|ORDER|HAVING|LIMIT|OFFSET|JOIN|INNER|LEFT|CROSS|"
    r"NATURAL|ON|USING|AS|UNION|INTERSECT|EXCEPT|WINDOW|BETWEEN|IN|IS|LIKE|GLOB|CASE|WHEN|THEN|ELSE|END)\b)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"\.(?=[ \t]+\S|\s*\Z)")
_SYNTAX_ERRORS = ("syntax error", "unrecognized token", "incomplete input", "parser stack overflow")
_MAX_STARTS = 64
"""Candidates tried per block: replies are short, and a pathological one must not cost minutes."""

_local = threading.local()


def _compiler() -> sqlite3.Connection:
    # An empty in-memory database: EXPLAIN compiles a statement and runs nothing. One per thread.
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = sqlite3.connect(":memory:")
    return conn


def sqlite_syntax(sql: str) -> str:
    """How SQLite's parser reads `sql` as one statement: "ok" (complete; it may still name tables
    or columns that do not exist), "incomplete" (the input ends mid-statement) or "error"."""
    if not sql.strip():
        return "incomplete"
    try:
        _compiler().execute("EXPLAIN " + sql).close()
    except sqlite3.ProgrammingError:  # "You can only execute one statement at a time."
        return "error"
    except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, RecursionError) as e:
        message = str(e)
        if message == "incomplete input":
            return "incomplete"
        return "error" if any(s in message for s in _SYNTAX_ERRORS) else "ok"
    return "ok"


def _first_semicolon(text: str) -> int:
    """Index of the first `;` that ends a statement (outside quotes and comments), or -1."""
    for m in re.finditer(";", text):
        if sqlite3.complete_statement(text[: m.end()]):
            return m.start()
    return -1


def _tidy(sql: str) -> str:
    return sql.strip().rstrip(";").strip()


def _fenced_statement(text: str) -> str:
    cut = _first_semicolon(text)
    return _tidy(text if cut == -1 else text[:cut])


def _sentence_ends(prefix: str, line: str) -> list[str]:
    """`prefix + line` cut where a sentence ends in `line` (a period before a space or the end),
    wherever what comes before is a complete statement: prose on the query's own line."""
    heads = (prefix + line[: m.start()] for m in _SENTENCE_END.finditer(line))
    return [_tidy(head) for head in heads if sqlite_syntax(head) == "ok"]


def _unfenced_statements(text: str) -> list[str]:
    """The statement at the start of `text`, less any prose after it (see the module rules): one
    candidate, or the text as written followed by the places a sentence may end it."""
    cut = _first_semicolon(text)
    if cut != -1:
        text = text[:cut]
    text = text.rstrip()
    status = sqlite_syntax(text)
    if status == "ok":
        return [_tidy(text)]
    as_written = [_tidy(text)]  # cut off mid-query, or broken: that is what gets graded
    if status == "incomplete":  # "… FROM singer." ends a sentence (or cuts a name short)
        return as_written + _sentence_ends("", text)
    # The first line that turns the text into a syntax error ends the statement, if what comes
    # before it is complete. A syntax error never goes away by reading further, so scan forward.
    lines = text.split("\n")
    for keep in range(len(lines)):
        if keep and not lines[keep].strip():
            continue  # a blank line alone is never where a statement ends
        if sqlite_syntax("\n".join(lines[: keep + 1])) == "error":
            # That line is prose ("Done."), or SQL that a sentence ends ("FROM items WHERE id > 1.
            # That's it."): it continues the query if it opens with a clause keyword or an operator
            # (not a parenthesis, dash or star: prose and lists open with those too).
            head = "\n".join(lines[:keep])
            if keep and sqlite_syntax(head) == "ok" and not _CONTINUATION.match(lines[keep]):
                return [_tidy(head)]
            in_line = _sentence_ends(head + "\n" if keep else "", lines[keep])
            return in_line[:1] or as_written
    return as_written


def _continues(before: str) -> bool:
    """Whether a SELECT right after `before` (the text since the previous candidate's start) is
    part of that earlier query: after a set operator, or where the SQL is unfinished and is SQL
    (an open parenthesis or a FROM; "With singers" on a line of its own is prose)."""
    if _SET_OPERATOR_END.search(before):
        return True
    head = before.rstrip().rstrip(":")
    return ("(" in head or _FROM_WORD.search(head) is not None) and sqlite_syntax(head) == "incomplete"


def _starts(block: str) -> list[int]:
    """Where candidates start in `block`, in order (see the module rules)."""
    starts: list[int] = []
    for m in _START.finditer(block):
        pos = m.start(1)
        if starts and _continues(block[starts[-1] : pos]):
            continue
        starts.append(pos)
        if len(starts) == _MAX_STARTS:
            break
    return starts


def _inline_code(text: str) -> list[str]:
    spans = (m.group(1) or m.group(2) for m in _INLINE_CODE.finditer(text))
    return [_fenced_statement(span) for span in spans if _QUERY_WORD.match(span)]


def _mid_sentence(text: str) -> list[str]:
    """Queries that start mid-line after prose ("To count rows, use SELECT …"): the line before
    the keyword must be prose to SQLite (a syntax error), not unfinished SQL (`INSERT INTO t`,
    `… WHERE x IN (`), so a SELECT inside another statement is never promoted."""
    found = []
    for m in _MID_SENTENCE.finditer(text):
        before = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
        if sqlite_syntax(before) == "error":
            found += _unfenced_statements(text[m.start() :])
        if len(found) >= _MAX_STARTS:
            break
    return found


def _candidates(text: str) -> list[str]:
    fences = fenced_blocks(text)
    bodies = [b for lang, b in fences if lang in _SQL_LANGS] + [b for lang, b in fences if lang not in _SQL_LANGS]
    found = [_fenced_statement(body[i:]) for body in bodies for i in _starts(body)]
    outside = outside_fences(text)
    found += [_fenced_statement(m.group(1)) for m in _ONE_LINE_FENCE.finditer(outside)]
    outside = _ONE_LINE_FENCE.sub("\n\n", outside)
    found += [c for i in _starts(outside) for c in _unfenced_statements(outside[i:])]
    found += _inline_code(outside)
    if not found:  # only when nothing starts where a query starts: it could be a subquery
        found = _mid_sentence(outside)
    return list(dict.fromkeys(c for c in found if c))


def extract_sql(text: str, prepares: Callable[[str], bool] | None = None) -> str:
    """The SQL query in model text, by the rules above; "" when the reply has no answer (an
    unclosed reasoning block, or nothing at all). `prepares(sql)` says whether a candidate
    compiles against the real database, to choose between candidates. With no SELECT or WITH
    anywhere, the first fence or the text up to its first `;` is returned, so the grader can say
    why it fails."""
    answer = final_answer(text)
    if answer is None or not answer.strip():
        return ""
    candidates = _candidates(answer)
    parsing = [c for c in candidates if sqlite_syntax(c) == "ok"]
    if prepares is not None:
        runnable = next((c for c in parsing if prepares(c)), None)
        if runnable is not None:
            return runnable
    if parsing:
        return parsing[0]
    if candidates:
        return candidates[0]
    fences = fenced_blocks(answer)
    return _fenced_statement(fences[0][1] if fences else answer)
