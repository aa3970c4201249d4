"""How much of the teacher-over-base gap the student closes, with a paired bootstrap CI.

gap closed = (student − base) / (teacher − base), on execution accuracy over the same questions.
0 means training added nothing, 1 means the student matches its teacher. Published anchors
(README, Evaluation): a public 0.5B Spider distillation reached 0.56; distil labs call 0.8 or
more deployable.

The base may be graded under several prompts; its score is the better prompt's. The CI resamples
questions with replacement, the same draw for every model (paired), and takes the better base
prompt inside each resample, so the choice of prompt is part of the uncertainty. With several
prompts that max is biased upward within a resample, so the interval can sit a little off the
point estimate (which takes the better prompt once, on all questions).
"""

from __future__ import annotations

import numpy as np

DEPLOYABLE = 0.8
"""gap closed at or above this, with student − base above 0 at the CI's lower bound: deployable."""
RED_FLAG = 0.4
"""gap closed below this is a red flag."""
RESAMPLES = 2000
MAX_UNDEFINED_SHARE = 0.025
"""Above this share of resamples with teacher ≤ base, the gap's CI is not reported: a percentile
interval over the remaining resamples would be too narrow exactly when the gap is shakiest."""


def gap_closed(student: float, teacher: float, base: float) -> float | None:
    """(student − base) / (teacher − base); None when the teacher is not above the base (there is
    no gap to close)."""
    if teacher <= base:
        return None
    return (student - base) / (teacher - base)


def _percentile_ci(values: np.ndarray) -> list[float] | None:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def gap_report(
    student: list[float],
    teacher: list[float],
    bases: dict[str, list[float]],
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict:
    """The gap closed over paired per-question outcomes.

    `student`, `teacher` and each list in `bases` (base prompt name → outcomes) hold one outcome
    per question, in the same question order: 1/0 (or True/False) for one graded answer, the share
    of correct answers for several. Returns:
    - `gap_closed`: the point estimate (None when teacher ≤ base), and `ci95` from `resamples`
      paired bootstrap resamples; None when more than 2.5% of them have teacher ≤ base
      (`undefined_resamples` gives that share, and the flag `gap_closed_ci_undefined` says so);
    - `base_prompt`: the base prompt with the higher accuracy (the first on a tie), and `base`;
    - `student_minus_base` with its `ci95`;
    - `deployable`: gap closed ≥ 0.8 and the lower CI bound of student − base above 0;
    - `flags`: `gap_closed_undefined` when teacher ≤ base, `gap_closed_below_0_4` below 0.4.
    Raises ValueError when the lists differ in length, are empty, or `bases` is empty.
    """
    if not bases:
        raise ValueError("gap_report needs at least one base prompt's outcomes")
    n = len(student)
    if n == 0 or len(teacher) != n or any(len(b) != n for b in bases.values()):
        lengths = {"student": n, "teacher": len(teacher), **{f"base:{k}": len(v) for k, v in bases.items()}}
        raise ValueError(f"gap_report needs the same non-empty question list for every model, got {lengths}")
    s = np.asarray(student, dtype=float)
    t = np.asarray(teacher, dtype=float)
    b = np.asarray([bases[k] for k in bases], dtype=float)  # prompts × questions
    base_scores = b.mean(axis=1)
    best = int(np.argmax(base_scores))
    base = float(base_scores[best])
    point = gap_closed(float(s.mean()), float(t.mean()), base)

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    s_r, t_r = s[draws].mean(axis=1), t[draws].mean(axis=1)
    base_r = b[:, draws].mean(axis=2).max(axis=0)  # the better prompt inside each resample
    gap_den = t_r - base_r
    with np.errstate(divide="ignore", invalid="ignore"):
        gap_r = np.where(gap_den > 0, (s_r - base_r) / gap_den, np.nan)
    diff_ci = _percentile_ci(s_r - base_r)
    undefined = float(np.mean(gap_den <= 0))
    gap_ci = _percentile_ci(gap_r) if point is not None and undefined <= MAX_UNDEFINED_SHARE else None

    flags = []
    if point is None:
        flags.append(
            {
                "flag": "gap_closed_undefined",
                "message": f"teacher at {t.mean():.1%} is not above the base at {base:.1%}: there is no gap to close",
            }
        )
    elif point < RED_FLAG:
        flags.append(
            {
                "flag": "gap_closed_below_0_4",
                "message": f"the student closes {point:.0%} of the teacher-over-base gap (below {RED_FLAG:.0%})",
            }
        )
    if point is not None and gap_ci is None:
        flags.append(
            {
                "flag": "gap_closed_ci_undefined",
                "message": f"in {undefined:.0%} of bootstrap resamples the teacher is not above the base: "
                "the gap closed has no reliable interval on this many questions",
            }
        )
    return {
        "gap_closed": None if point is None else round(point, 4),
        "ci95": gap_ci,
        "undefined_resamples": round(undefined, 4),
        "base_prompt": list(bases)[best],
        "base": round(base, 4),
        "student_minus_base": round(float(s.mean()) - base, 4),
        "student_minus_base_ci95": diff_ci,
        "deployable": point is not None and point >= DEPLOYABLE and diff_ci is not None and diff_ci[0] > 0,
        "resamples": resamples,
        "flags": flags,
    }
