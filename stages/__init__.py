"""Thin DVC stage entry points: `python -m stages.<name>`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from distill import layouts
from distill.errors import DistillError
from distill.io import write_json


def run_stage(main: Callable[[], bool | None], name: str) -> None:
    """Run stage `name`; a user error (any `DistillError`) prints one clear line and exits 1
    instead of a traceback. On success, its wall time (seconds, model loading included) goes to
    metrics/time/<name>.json, unless `main` returns False (it only reported, as
    `generate --dry-run` does)."""
    start = time.perf_counter()
    try:
        ran = main()
    except DistillError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    if ran is not False:
        write_json(layouts.stage_time(name), {"wall_s": round(time.perf_counter() - start, 1)})
