import pytest

from distill.evaluation.gap import gap_closed, gap_report
from distill.evaluation.run import add_gap, per_question
from distill.examples import Example


def outcomes(correct: int, n: int) -> list[bool]:
    return [True] * correct + [False] * (n - correct)


def test_gap_closed_arithmetic():
    assert gap_closed(0.6, 0.8, 0.4) == pytest.approx(0.5)
    assert gap_closed(0.8, 0.8, 0.4) == pytest.approx(1.0)
    assert gap_closed(0.3, 0.8, 0.4) == pytest.approx(-0.25)
    assert gap_closed(0.5, 0.4, 0.4) is None
    assert gap_closed(0.5, 0.3, 0.4) is None


def test_report_point_estimate_uses_the_better_base_prompt():
    n = 100
    report = gap_report(
        outcomes(60, n), outcomes(80, n), {"few_shot": outcomes(40, n), "zero_shot": outcomes(20, n)}, resamples=500
    )
    assert report["gap_closed"] == pytest.approx(0.5)
    assert report["base_prompt"] == "few_shot"
    assert report["base"] == pytest.approx(0.4)
    assert report["student_minus_base"] == pytest.approx(0.2)
    low, high = report["ci95"]
    assert low < 0.5 < high
    assert report["flags"] == []
    assert report["deployable"] is False  # 0.5 < 0.8


def test_teacher_not_above_base_gives_null_and_a_flag():
    n = 50
    report = gap_report(outcomes(30, n), outcomes(20, n), {"few_shot": outcomes(25, n)}, resamples=200)
    assert report["gap_closed"] is None
    assert report["ci95"] is None
    assert report["deployable"] is False
    assert [f["flag"] for f in report["flags"]] == ["gap_closed_undefined"]


def test_small_gap_closed_is_a_red_flag():
    n = 100
    report = gap_report(outcomes(45, n), outcomes(80, n), {"few_shot": outcomes(40, n)}, resamples=200)
    assert report["gap_closed"] == pytest.approx(0.125)
    assert [f["flag"] for f in report["flags"]] == ["gap_closed_below_0_4"]


def test_deployable_needs_both_the_gap_and_a_positive_lower_bound():
    report = gap_report(outcomes(180, 200), outcomes(190, 200), {"few_shot": outcomes(40, 200)}, resamples=500)
    assert report["gap_closed"] >= 0.8
    assert report["student_minus_base_ci95"][0] > 0
    assert report["deployable"] is True
    # A full gap on 5 questions: student - base is 0.2, but its CI's lower bound is not above 0.
    few = gap_report([True, True, False, False, False], [True, True, False, False, False], {"p": [True] + [False] * 4})
    assert few["gap_closed"] == pytest.approx(1.0)
    assert few["student_minus_base_ci95"][0] <= 0
    assert few["deployable"] is False


def test_the_better_base_prompt_is_chosen_inside_each_resample():
    """Two base prompts right on complementary halves: each scores 0.5 alone, but in a resample
    the better of the two is at least 0.5, so the base side of the interval sits higher than with
    either prompt alone."""
    n = 40
    half = outcomes(20, n)
    other = [not x for x in half]
    student, teacher = outcomes(30, n), outcomes(36, n)
    alone = gap_report(student, teacher, {"a": half}, resamples=1000)
    both = gap_report(student, teacher, {"a": half, "b": other}, resamples=1000)
    assert alone["base"] == both["base"] == pytest.approx(0.5)
    assert both["student_minus_base_ci95"][1] < alone["student_minus_base_ci95"][1]
    assert both["student_minus_base_ci95"][0] < alone["student_minus_base_ci95"][0]


def test_the_ci_is_reproducible_and_paired():
    n = 60
    s, t, b = outcomes(40, n), outcomes(50, n), {"p": outcomes(20, n)}
    assert gap_report(s, t, b, resamples=300, seed=3) == gap_report(s, t, b, resamples=300, seed=3)
    # Paired: a student identical to the teacher has a gap closed of exactly 1 in every resample.
    same = gap_report(t, t, b, resamples=300)
    assert same["ci95"] == [1.0, 1.0]
    # ... and a student identical to the base differs from it by exactly 0 in every resample.
    assert gap_report(b["p"], t, b, resamples=300)["student_minus_base_ci95"] == [0.0, 0.0]


def test_no_ci_when_many_resamples_have_no_gap():
    """Teacher barely above the base on few questions: many resamples have no gap to close, and a
    percentile interval over the rest would be too narrow, so none is given."""
    report = gap_report([False] * 9 + [True], [True, True] + [False] * 8, {"p": [True] + [False] * 9}, resamples=500)
    assert report["gap_closed"] == pytest.approx(0.0)
    assert report["undefined_resamples"] > 0.025
    assert report["ci95"] is None
    assert "gap_closed_ci_undefined" in [f["flag"] for f in report["flags"]]


@pytest.mark.parametrize(
    "student, teacher, bases",
    [([True], [True, False], {"p": [True, False]}), ([], [], {"p": []}), ([True], [True], {})],
)
def test_mismatched_or_empty_inputs_are_refused(student, teacher, bases):
    with pytest.raises(ValueError, match="gap_report needs"):
        gap_report(student, teacher, bases)


def test_per_question_outcomes_follow_the_test_split_order():
    examples = [Example(input=f"q{i}", output="", id=f"t{i}") for i in range(3)]
    records = [
        {"model": "student", "id": "t2", "correct": True},
        {"model": "student", "id": "t0", "correct": False},
        {"model": "student", "id": "t0", "correct": True},  # two samples: half right
        {"model": "teacher", "id": "t0", "correct": False},
        {"model": "teacher", "id": "t1", "correct": True},
        {"model": "teacher", "id": "t2", "correct": False, "split": "test"},
        {"model": "student", "id": "t1", "correct": False},
        {"model": "student", "id": "t1", "correct": True, "split": "humaneval"},  # a benchmark, not the test split
    ]
    assert per_question(records, "student", [e.id for e in examples]) == [0.5, 0.0, 1.0]
    assert per_question(records, "teacher", [e.id for e in examples]) == [0.0, 1.0, 0.0]


def test_a_question_without_an_answer_is_an_error_not_a_zero():
    examples = [Example(input="q", output="", id="t0"), Example(input="r", output="", id="t1")]
    with pytest.raises(ValueError, match="student has no graded answer to test question t1"):
        per_question([{"model": "student", "id": "t0", "correct": True}], "student", [e.id for e in examples])


def test_evaluate_metrics_get_the_gap_and_its_flags():
    examples = [Example(input=f"q{i}", output="", id=f"t{i}") for i in range(10)]
    outcomes = {
        "student": [True] * 4 + [False] * 6,
        "teacher": [True] * 8 + [False] * 2,
        "base": [True] * 3 + [False] * 7,
    }
    prompt = {"student": "zero_shot", "teacher": "few_shot", "base": "few_shot"}
    records = [
        {"model": m, "id": e.id, "correct": c, "prompt": prompt[m]}
        for m, cs in outcomes.items()
        for e, c in zip(examples, cs, strict=True)
    ]
    # The base's zero-shot answers: right on 2 questions, so its few-shot prompt is the better one.
    records += [{"model": "base", "id": e.id, "correct": i < 2, "prompt": "zero_shot"} for i, e in enumerate(examples)]
    models = {m: {"prompt": prompt[m]} for m in outcomes}
    models["base"]["by_prompt"] = {"few_shot": 0.3, "zero_shot": 0.2}
    metrics = {"models": models, "red_flags": [{"flag": "x", "message": "x"}]}
    add_gap(metrics, records, [e.id for e in examples])
    assert metrics["gap"]["gap_closed"] == pytest.approx(0.2)  # (0.4 - 0.3) / (0.8 - 0.3)
    assert metrics["gap"]["base_prompt"] == "few_shot"
    assert [f["flag"] for f in metrics["red_flags"]] == ["x", "gap_closed_below_0_4"]
    without_student = {"models": {"teacher": {}, "base": {}}, "red_flags": []}
    add_gap(without_student, records, [e.id for e in examples])
    assert "gap" not in without_student


def test_merging_reference_and_student_results_needs_the_same_questions():
    from distill.evaluation.run import merge_results
    from distill.io import DataError

    reference = {"task": "text2sql", "n": 3, "models": {}, "model_specs": {}}
    student = {"n": 2, "models": {}, "model_specs": {}, "files": {}, "red_flags": []}
    with pytest.raises(DataError, match="reference stage graded 3 test questions and evaluate 2"):
        merge_results(reference, student, [], ["t0", "t1", "t2"])


def test_merged_metrics_list_the_models_and_the_latency_ratio():
    from distill.evaluation.run import merge_results

    ids = ["t0", "t1"]
    block = {"execution_accuracy": 0.5, "prompt": "few_shot"}
    records = [
        {"model": m, "id": i, "correct": c, "prompt": p}
        for m, p, cs in (("base", "few_shot", (False, False)), ("teacher", "few_shot", (True, True)))
        for i, c in zip(ids, cs, strict=True)
    ] + [{"model": "student", "id": i, "correct": i == "t0", "prompt": "zero_shot"} for i in ids]
    reference = {
        "task": "text2sql",
        "n": 2,
        "models": {"base": {**block, "execution_accuracy": 0.0}, "teacher": {**block, "execution_accuracy": 1.0}},
        "model_specs": {"base": "b", "teacher": "t"},
        "teacher_speed": {"seconds_per_answer": 2.0},
    }
    student = {
        "n": 2,
        "models": {"student": {**block, "prompt": "zero_shot"}},
        "model_specs": {"student": "s"},
        "files": {"student-q8_0.gguf": {}},
        "speed": {"model": "student-q8_0.gguf", "seconds_per_answer": 0.5},
        "hf_check": None,
        "red_flags": [{"flag": "quantization_accuracy_drop", "message": "m"}],
    }
    metrics = merge_results(reference, student, records, ids)
    assert list(metrics["models"]) == ["student", "teacher", "base"]
    assert metrics["speed"]["latency_ratio"] == 0.25
    assert metrics["gap"]["gap_closed"] == pytest.approx(0.5)
    assert "quantization_accuracy_drop" in {f["flag"] for f in metrics["red_flags"]}
