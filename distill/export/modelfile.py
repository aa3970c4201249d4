"""An Ollama Modelfile that prompts the exported model exactly as training and evaluation did.

A different template, system prompt or stop token ruins a good small model, so nothing here is
written by hand: the per-role wrappers are read off the tokenizer's own chat template (rendered
around sentinel messages), and the round trip is checked before the file is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from distill.export.llama_cpp import ExportError

_ROLES = ("system", "user", "assistant")
_SENTINEL = "\x00{}\x00"


@dataclass(frozen=True)
class ChatFormat:
    """How a chat template wraps each role's content, and what starts the model's answer."""

    wrappers: dict[str, tuple[str, str]]
    """role → (text before the content, text after it)."""
    generation_prefix: str
    stops: tuple[str, ...]

    def render(self, messages: list[dict]) -> str:
        """The prompt text for `messages`, ending where the model's answer starts."""
        out = []
        for m in messages:
            before, after = self.wrappers[m["role"]]
            out.append(before + m["content"] + after)
        return "".join(out) + self.generation_prefix


def chat_format(tokenizer) -> ChatFormat:
    """Read the role wrappers off `tokenizer`'s chat template; ExportError if it is not a plain
    per-message template (one a Go template loop over messages cannot reproduce)."""
    roles = ["system", "user", "assistant", "user"]
    contents = [_SENTINEL.format(i) for i in range(len(roles))]
    messages = [{"role": r, "content": c} for r, c in zip(roles, contents, strict=True)]
    with_prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    without = tokenizer.apply_chat_template(messages, add_generation_prompt=False, tokenize=False)
    if not with_prompt.startswith(without):
        raise ExportError("the chat template's generation prompt is not a plain suffix")
    generation_prefix = with_prompt[len(without) :]
    pieces = re.split("\x00\\d\x00", without)  # lead, s→u, u→a, a→u, tail
    if len(pieces) != len(contents) + 1:
        raise ExportError("the chat template does not show every message's content once")
    lead, sys_user, user_asst, asst_user, tail = pieces
    # Templates end each role the same way; the user's ending is what precedes the answer prefix.
    if not user_asst.endswith(generation_prefix):
        raise ExportError("the chat template starts assistant turns differently from its generation prompt")
    end = user_asst[: -len(generation_prefix)] if generation_prefix else user_asst
    if tail != end or not sys_user.startswith(end):
        raise ExportError("the chat template ends roles differently")
    user_start = sys_user[len(end) :]
    if not asst_user.endswith(user_start):
        raise ExportError("the chat template wraps user turns inconsistently")
    fmt = ChatFormat(
        wrappers={
            "system": (lead, end),
            "user": (user_start, end),
            "assistant": (generation_prefix, asst_user[: -len(user_start)]),
        },
        generation_prefix=generation_prefix,
        stops=_stops(tokenizer, end),
    )
    if fmt.render(messages) != with_prompt:
        raise ExportError("could not reproduce the chat template from per-role wrappers")
    return fmt


def _stops(tokenizer, end: str) -> tuple[str, ...]:
    """The end-of-turn marker (the special token that closes a turn) and the EOS token."""
    stops = []
    specials = set(tokenizer.all_special_tokens) | {
        t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special
    }
    marker = end.strip()
    if marker in specials:
        stops.append(marker)
    if tokenizer.eos_token and tokenizer.eos_token not in stops:
        stops.append(tokenizer.eos_token)
    return tuple(stops)


def _quoted(text: str, what: str) -> str:
    if '"""' in text:
        raise ExportError(f'the {what} contains """, which a Modelfile cannot quote')
    return f'"""{text}"""'


def go_template(fmt: ChatFormat) -> str:
    """Ollama's TEMPLATE: one loop over .Messages (Ollama puts SYSTEM and MESSAGE turns first)."""
    branches = []
    for i, role in enumerate(_ROLES):
        before, after = fmt.wrappers[role]
        keyword = "if" if i == 0 else "else if"
        branches.append(f'{{{{ {keyword} eq .Role "{role}" }}}}{before}{{{{ .Content }}}}{after}')
    return "{{ range .Messages }}" + "".join(branches) + "{{ end }}{{ end }}" + fmt.generation_prefix


def render_modelfile(gguf_name: str, fmt: ChatFormat, prefix: list[dict], num_ctx: int, num_predict: int) -> str:
    """The Modelfile text. `prefix` is the task's fixed opening (system prompt, worked examples)."""
    if not prefix or prefix[0]["role"] != "system":
        raise ExportError("the task prompt must open with a system message")
    lines = [f"FROM ./{gguf_name}", f"TEMPLATE {_quoted(go_template(fmt), 'chat template')}"]
    lines.append(f"SYSTEM {_quoted(prefix[0]['content'], 'system prompt')}")
    for m in prefix[1:]:
        lines.append(f"MESSAGE {m['role']} {_quoted(m['content'], 'worked example')}")
    lines += [f'PARAMETER stop "{s}"' for s in fmt.stops]
    # Greedy and with room for the long schema prompt, as evaluation ran it.
    lines += ["PARAMETER temperature 0", f"PARAMETER num_ctx {num_ctx}", f"PARAMETER num_predict {num_predict}"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Modelfile:
    source: str
    template: str
    system: str
    messages: list[dict]
    parameters: list[tuple[str, str]]

    @property
    def stops(self) -> list[str]:
        return [v.strip('"') for k, v in self.parameters if k == "stop"]


_COMMAND = re.compile(
    r'^(FROM|TEMPLATE|SYSTEM|MESSAGE|PARAMETER)[ \t]+(?:(system|user|assistant)[ \t]+)?(?:"""(.*?)"""|([^\n]*))',
    re.S | re.M,
)


def parse_modelfile(text: str) -> Modelfile:
    """Read a Modelfile back (the subset `render_modelfile` writes)."""
    fields: dict[str, str] = {}
    messages, parameters = [], []
    for m in _COMMAND.finditer(text):
        command, role = m.group(1), m.group(2)
        value = m.group(3) if m.group(3) is not None else m.group(4).strip()
        if command == "MESSAGE":
            if role is None:
                raise ExportError(f"Modelfile: MESSAGE without a role: {m.group(0)[:80]!r}")
            messages.append({"role": role, "content": value})
            continue
        if role is not None:  # a plain value that happens to start with a role word
            value = f"{role} {value}"
        if command == "PARAMETER":
            name, _, v = value.partition(" ")
            parameters.append((name, v.strip()))
        else:
            fields[command] = value
    missing = [c for c in ("FROM", "TEMPLATE", "SYSTEM") if c not in fields]
    if missing:
        raise ExportError(f"Modelfile has no {', '.join(missing)}")
    return Modelfile(fields["FROM"], fields["TEMPLATE"], fields["SYSTEM"], messages, parameters)
