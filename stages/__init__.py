"""Thin DVC stage entry points: `python -m stages.<name>`."""

from __future__ import annotations

import sys
from collections.abc import Callable

from distill.config import ConfigError, Params
from distill.io import DataError
from distill.models import ModelError, resolve_hf
from distill.teachers.base import TeacherError


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage; known user errors print one clear line and exit 1 instead of a traceback."""
    try:
        main()
    except (ConfigError, DataError, ModelError, TeacherError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def resolve_student(params: Params) -> str:
    """The student's transformers checkpoint; errors name the param."""
    try:
        return resolve_hf(params.student.model)
    except ModelError as e:
        raise ModelError(f"params.yaml: student.model: {e}") from None
