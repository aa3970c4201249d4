import pytest

from distill.evaluation.metrics import summarize, wilson_interval


def test_wilson_interval_known_values():
    # Reference values from the closed form (e.g. statsmodels proportion_confint(method="wilson")).
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_summarize_per_difficulty_and_latency():
    records = [
        {"correct": True, "valid": True, "exact_match": True, "difficulty": "easy", "latency_s": 1.0},
        {"correct": False, "valid": True, "exact_match": False, "difficulty": "easy", "latency_s": 3.0},
        {"correct": True, "valid": True, "exact_match": False, "difficulty": "hard", "latency_s": 2.0},
        {"correct": False, "valid": False, "exact_match": False, "difficulty": "hard", "latency_s": 2.0},
    ]
    m = summarize(records)
    assert m["execution_accuracy"] == 0.5 and m["n"] == 4
    assert m["valid_rate"] == 0.75 and m["exact_match"] == 0.25
    assert m["by_difficulty"]["easy"]["execution_accuracy"] == 0.5
    assert m["by_difficulty"]["hard"]["n"] == 2
    assert m["mean_latency_s"] == 2.0


def test_red_flags_say_when_training_did_nothing_or_hurt():
    from distill.evaluation.metrics import red_flags

    def flags(student, base=0.5, teacher=0.9):
        models = {
            name: {"execution_accuracy": acc}
            for name, acc in (("base", base), ("student", student), ("teacher", teacher))
        }
        return {f["flag"] for f in red_flags(models)}

    assert flags(0.8) == set()
    assert flags(0.51) == {"student_same_as_base"}
    assert flags(0.3, base=0.3) == {"student_below_50", "student_same_as_base"}
    assert flags(0.3) == {"student_below_50", "student_below_base"}
    assert flags(0.6, base=0.75) == {"student_below_base"}
    assert flags(0.95) == {"student_above_teacher"}
