"""Every error a user can cause or fix, under one base, so that the stages (`run_stage`) and the
CLI print one clear line and exit 1 for all of them, and a traceback means a bug.

Each message names what to fix: the param (`params.yaml: train.lr: …`), the file and line, or
the package to install. The subclasses keep the standard bases they had (ValueError,
RuntimeError), so callers that catch those still do.
"""

from __future__ import annotations


class DistillError(Exception):
    """Base of every error whose message is meant for the user."""


class ConfigError(DistillError, ValueError):
    """A bad or missing param; the message names the key."""


class DataError(DistillError, ValueError):
    """Bad input data; the message names the file and line."""


class ModelError(DistillError, RuntimeError):
    """A model spec that cannot be resolved; the message says what to install or fix."""


class TeacherError(DistillError, RuntimeError):
    """A call that failed for good (bad request, auth, retries exhausted); the message says why."""


class BudgetExceeded(DistillError, RuntimeError):
    """The next call could take spend past `teacher.budget_usd`."""


class ExportError(DistillError, RuntimeError):
    """An export step failed; the message says which step and why."""


class SoftLabelsUnavailable(ConfigError):
    """This teacher cannot give soft labels for this student; the message says why and what to do,
    `why` only the reason (what `train.loss: auto` records when it falls back to SFT)."""

    def __init__(self, why: str, advice: str = ""):
        super().__init__(f"params.yaml: train.loss: kd {why}{advice}")
        self.why = why
