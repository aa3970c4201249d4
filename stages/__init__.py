"""Thin DVC stage entry points: `python -m stages.<name>`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from distill.config import ConfigError, Params
from distill.io import DataError, write_json
from distill.models import ModelError, resolve_hf
from distill.teachers.base import TeacherError

TIMINGS = Path("metrics/time")
"""One `<stage>.json` per stage with its wall time; the report adds them up."""


def run_stage(main: Callable[[], bool | None], name: str) -> None:
    """Run stage `name`; known user errors print one clear line and exit 1 instead of a traceback.
    On success, its wall time (seconds, model loading included) goes to metrics/time/<name>.json,
    unless `main` returns False (it only reported, as `generate --dry-run` does)."""
    start = time.perf_counter()
    try:
        ran = main()
    except (ConfigError, DataError, ModelError, TeacherError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    if ran is not False:
        write_json(TIMINGS / f"{name}.json", {"wall_s": round(time.perf_counter() - start, 1)})


def resolve_student(params: Params) -> str:
    """The student's transformers checkpoint; errors name the param."""
    try:
        return resolve_hf(params.student.model)
    except ModelError as e:
        raise ModelError(f"params.yaml: student.model: {e}") from None
