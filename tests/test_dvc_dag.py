"""The pipeline's shape, read from dvc.yaml by DVC itself: what a change re-runs.

A training change must never re-grade the base or the teacher, and an export change re-runs only
export and what follows it. The e2e test checks the same with `dvc status` after a real run."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pipeline():
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        graph = repo.index.graph
        by_name = {stage.addressing: stage for stage in graph.nodes}
        # DVC's edges point from a stage to the stages it depends on.
        downstream = {name: {s.addressing for s in nx.ancestors(graph, stage)} for name, stage in by_name.items()}
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return downstream, stages


def _readers(stages: dict, key: str) -> set[str]:
    """Stages whose `params:` list `key` or a section above it."""
    parts = key.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return {name for name, s in stages.items() if prefixes & set(s.get("params", []))}


def test_a_training_change_reruns_the_student_stages_not_the_reference(pipeline):
    downstream, stages = pipeline
    assert _readers(stages, "train.lr") == {"train"}
    assert downstream["train"] == {"export", "evaluate", "report"}
    assert "reference" not in downstream["teacher_logits"] | downstream["train"]


def test_an_export_change_reruns_export_and_what_follows(pipeline):
    downstream, stages = pipeline
    assert _readers(stages, "export.quantizations") == {"export"}
    assert downstream["export"] == {"evaluate", "report"}


def test_the_reference_stage_grades_the_base_export_and_reads_no_training_output(pipeline):
    downstream, stages = pipeline
    assert "reference" in downstream["export_base"]
    deps = set(stages["reference"]["deps"])
    assert not {d for d in deps if d.startswith(("models/student", "models/export", "data/validated"))}


def test_every_stage_records_its_wall_time(pipeline):
    _, stages = pipeline
    for name, stage in stages.items():
        metrics = [next(iter(m)) if isinstance(m, dict) else m for m in stage.get("metrics", [])]
        assert f"metrics/time/{name}.json" in metrics, name
        assert f'run_stage(main, "{name}")' in (REPO / "stages" / f"{name}.py").read_text()
