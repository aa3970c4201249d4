"""A scripted text2sql teacher for the fake API servers: it answers the pipeline's own prompts.

- Answer prompts (schema system prompt, question last) get the SQL it knows for that question.
- Proposal prompts (they end with the JSONL output format) get JSON lines built from a bank of
  valid shop-database pairs, so generation, self-consistency and validation all have real work.
"""

from __future__ import annotations

import hashlib
import json
import re

PARAPHRASE_PREFIX = "Please tell me: "


def _text(content) -> str:
    if isinstance(content, list):
        return "".join(block.get("text", "") for block in content if isinstance(block, dict))
    return content or ""


class ScriptedSQLTeacher:
    def __init__(self, known: dict[str, str], wrong: bool = False):
        self.known = dict(known)
        self.wrong = wrong
        """Answer every question with a query that runs but is wrong (to fail the gate)."""

    def _bank(self, body: dict, count: int) -> list[tuple[str, str]]:
        digest = int(hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()[:8], 16)
        pairs = []
        for k in range(count):
            n = (digest + k * 7919) % 5000 + 100
            question = f"How many units of product {n} are in stock?"
            sql = f"SELECT stock_quantity FROM products WHERE product_id = {n % 40 + 1}"
            pairs.append((question.replace(str(n), str(n % 40 + 1)) + f" (ref {n})", sql))
        return pairs

    def __call__(self, body: dict) -> str:
        messages = body.get("messages", [])
        user = _text(messages[-1]["content"]) if messages else ""
        if "One JSON object per line" in user or "one JSON object per line" in user:
            count = (
                int(re.search(r"(?:Write|in) (\d+)", user).group(1)) if re.search(r"(?:Write|in) (\d+)", user) else 3
            )
            if "Rewrite the question" in user:
                original = re.search(r"Question: (.*)", user).group(1)
                return "\n".join(json.dumps({"question": f"{PARAPHRASE_PREFIX}{original} ({i})"}) for i in range(count))
            rows = []
            for question, sql in self._bank(body, count):
                self.known[question] = sql
                rows.append(json.dumps({"question": question, "sql": sql, "difficulty": "easy"}))
            if "Invent a small database" in user:
                ddl = "CREATE TABLE books (book_id INTEGER PRIMARY KEY, title TEXT NOT NULL, year INTEGER);"
                rows = [json.dumps({"question": "How many books are there?", "sql": "SELECT COUNT(*) FROM books"})]
                self.known["How many books are there?"] = "SELECT COUNT(*) FROM books"
                return f"```sql\n{ddl}\n```\n" + "\n".join(rows)
            if "Do not answer them" in user:
                return "\n".join(json.dumps({"question": q}) for q, _ in self._bank(body, count))
            return "Here you go:\n```json\n" + "\n".join(rows) + "\n```"
        question = user
        if question.startswith(PARAPHRASE_PREFIX):
            question = re.sub(r" \(\d+\)$", "", question[len(PARAPHRASE_PREFIX) :])
        if self.wrong:
            return "SELECT 1"
        return f"```sql\n{self.known.get(question, 'SELECT 1')}\n```"


def shop_teacher(repo, wrong: bool = False) -> ScriptedSQLTeacher:
    """Knows the gold SQL of every seed question in the repository's shop database."""
    known = {}
    for line in (repo / "data/seeds/text2sql/seeds.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            known[row["input"]] = row["output"]
    for line in (repo / "data/seeds/text2sql/shop/examples.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            known[row["input"]] = row["output"]
    return ScriptedSQLTeacher(known, wrong=wrong)
