"""Content-addressed teacher cache: one JSON file per response, written before the response is used.

The key is sha256 of (provider, model, messages, sampling params, sample index), so a re-run with
the same prompts replays every response for free, and a crash loses nothing already answered.
Nothing secret goes in: requests carry no keys, and responses are text, usage and logprobs.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from distill.io import write_json
from distill.teachers.base import TeacherRequest, TeacherResponse


def cache_key(provider: str, model: str, request: TeacherRequest) -> str:
    payload = {"provider": provider, "model": model, **request.to_json()}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class TeacherCache:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> TeacherResponse | None:
        path = self.path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            return None  # a torn file cannot exist (atomic writes), but never trust a cache blindly
        return TeacherResponse.from_json(record["response"])

    def put(self, key: str, provider: str, model: str, request: TeacherRequest, response: TeacherResponse) -> None:
        record = {
            "key": key,
            "provider": provider,
            "model": model,
            "request": request.to_json(),
            "response": response.to_json(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_json(self.path(key), record)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.json")) if self.directory.exists() else 0
