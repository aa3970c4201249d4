"""The whole DAG end to end, as a user runs it, in a temp copy of the repository:
`dvc exp run -S teacher.provider=openai -S teacher.base_url=…` against a local OpenAI-compatible
server (a scripted teacher behind the real SDK), with a planted API key that must never leak."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
import yaml

from distill.evaluation.records import EvalMetrics, GateMetrics, Prediction, schema_problems

from .conftest import copy_repo
from .fake_teacher import shop_teacher
from .servers import FakeOpenAIServer

pytestmark = pytest.mark.integration

# Made at run time, so not even this file contains it.
PLANTED_KEY = f"sk-e2e-{uuid.uuid4().hex}"


def _run(cmd, cwd, env=None):
    env = {**os.environ, "PYTHONPATH": str(cwd), **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


@pytest.fixture
def repo_copy(tmp_path):
    dest = copy_repo(tmp_path / "repo")
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["student"]["model"] = "smollm2-135m-instruct"  # the small bundled student keeps this test short
    params["evaluate"].update(limit=3, max_new_tokens=48, speed_questions=2, hf_check_questions=2)
    params["train"].update(epochs=1, batch_size=4)
    params["export"].update(quantizations=["q8_0"])
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(["git", "add", "-A"], dest)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], dest)
    return dest


def _stale_stages(repo):
    status = json.loads(_run([sys.executable, "-m", "dvc", "status", "--json"], repo).strip() or "{}")
    return sorted(status)


def test_exp_run_with_an_openai_compatible_teacher(repo_copy):
    env = {"OPENAI_API_KEY": PLANTED_KEY}
    pipeline = (repo_copy / "dvc.yaml").read_text()
    with FakeOpenAIServer(responder=shop_teacher(repo_copy), require_api_key=PLANTED_KEY) as srv:
        log = _run(
            [
                sys.executable,
                "-m",
                "dvc",
                "exp",
                "run",
                "-S",
                "teacher.provider=openai",
                "-S",
                f"teacher.base_url={srv.base_url}",
                "-S",
                "teacher.model=fake-teacher",
                "-S",
                "generate.target_examples=20",
            ],
            repo_copy,
            env,
        )
        assert srv.outcomes["ok"] > 0 and srv.outcomes.get("401", 0) == 0
        calls = srv.attempts

        gate = json.loads((repo_copy / "metrics/teacher_gate.json").read_text())
        assert gate["pass"] and gate["n"] == 29 and gate["teacher"] == "openai:fake-teacher"
        generated = json.loads((repo_copy / "metrics/generate.json").read_text())
        assert generated["totals"]["kept"] > 0 and generated["teacher_usage"]["calls"] > 0
        validated = json.loads((repo_copy / "metrics/validate.json").read_text())
        train = (repo_copy / "data/validated/train.jsonl").read_text().splitlines()
        assert validated["train"] == len(train) > 0
        evaluated = json.loads((repo_copy / "metrics/eval.json").read_text())
        assert evaluated["n"] == 3 and set(evaluated["models"]) == {"base", "student", "teacher"}
        assert evaluated["models"]["teacher"]["execution_accuracy"] == 1.0  # the scripted teacher knows the golds
        predictions = [
            json.loads(line) for line in (repo_copy / "data/eval/predictions.jsonl").read_text().splitlines()
        ]
        # 3 questions each: the base under its few-shot and its zero-shot prompt and the teacher
        # (reference stage); the shipped q8_0 GGUF as the student and the f16 GGUF (evaluate stage).
        assert sorted({(p["model"], p["prompt"]) for p in predictions}) == [
            ("base", "few_shot"),
            ("base", "zero_shot"),
            ("student", "zero_shot"),
            ("student-f16.gguf", "zero_shot"),
            ("teacher", "few_shot"),
        ]
        assert len(predictions) == 15
        # What the stages wrote fits the schemas that type it (distill/evaluation/records.py).
        for p in predictions:
            assert schema_problems(p, Prediction) == [], p
        assert schema_problems(evaluated, EvalMetrics) == []
        assert schema_problems(gate, GateMetrics) == []
        assert evaluated["models"]["base"]["prompt"] in evaluated["models"]["base"]["by_prompt"]
        assert evaluated["models"]["student"]["gguf"] == "student-q8_0.gguf"
        assert {"gap_closed", "ci95", "student_minus_base", "deployable"} <= set(evaluated["gap"])
        assert {f["flag"] for f in evaluated["red_flags"]} >= {"student_below_50"}
        trained = json.loads((repo_copy / "metrics/train.json").read_text())
        assert trained["steps"] >= 1 and trained["train_examples"] == validated["train"]
        assert trained["loss"] == "sft" and trained["loss_param"] == "auto"  # an API teacher gives no soft labels
        assert (repo_copy / "models/student/adapter_config.json").is_file()
        assert (repo_copy / "models/base/base-f16.gguf").is_file()
        assert (repo_copy / "dvclive/metrics.json").is_file()
        assert (repo_copy / "dvc.yaml").read_text() == pipeline, "a stage rewrote dvc.yaml"
        # What metrics/export.json held is now metrics/eval.json's `gguf`.
        assert not (repo_copy / "metrics/export.json").exists()
        assert set(evaluated["gguf"]) == {"student-f16.gguf", "student-q8_0.gguf"}
        for m in evaluated["gguf"].values():
            assert m["n"] == 3 and m["tokens_per_s"] > 0 and m["bytes"] > 0
        assert evaluated["hf_check"]["n"] == 2
        assert evaluated["speed"]["student"]["seconds_per_answer"] > 0
        assert evaluated["speed"]["teacher"] is None and evaluated["speed"]["latency_ratio"] is None  # an API teacher
        for stage in yaml.safe_load(pipeline)["stages"]:
            assert json.loads((repo_copy / f"metrics/time/{stage}.json").read_text())["wall_s"] >= 0, stage
        assert (repo_copy / "models/export/Modelfile").is_file()
        report = (repo_copy / "metrics/report.md").read_text()
        assert "| student-q8_0.gguf |" in report and (repo_copy / "metrics/report.html").is_file()
        assert "## Stage wall times" in report and "<polyline" in report

        # Nothing to do right after a run, and a re-run would call nobody.
        assert _stale_stages(repo_copy) == []
        _run([sys.executable, "-m", "dvc", "repro", "-f", "generate"], repo_copy, env)
        # Its metrics (wall time) changed, so the report is rebuilt; nothing else re-runs.
        assert "Running stage 'report'" in _run([sys.executable, "-m", "dvc", "repro"], repo_copy, env)
        assert srv.attempts == calls, "a forced re-run of generate must replay from the cache"

    # The key was sent to the server, and written nowhere: outputs, caches, metrics, lock, logs.
    assert PLANTED_KEY not in log
    for path in repo_copy.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(repo_copy).parts:
            assert PLANTED_KEY.encode() not in path.read_bytes(), f"secret leaked into {path}"

    # Params are precise: each change makes exactly the stages that read it stale.
    params_path = repo_copy / "params.yaml"
    original = params_path.read_text()
    params_path.write_text(original.replace("limit: 3", "limit: 2"))
    assert _stale_stages(repo_copy) == ["evaluate", "reference"]
    params_path.write_text(original.replace("near_duplicate_similarity: 0.9", "near_duplicate_similarity: 0.8"))
    assert _stale_stages(repo_copy) == ["validate"]
    params_path.write_text(original.replace("min_accuracy: 0.75", "min_accuracy: 0.7"))
    assert _stale_stages(repo_copy) == ["teacher_gate"]
    # A training change re-runs the student stages, never the reference stage (base and teacher).
    params_path.write_text(original.replace("lr: 0.0005", "lr: 0.0001"))
    assert _stale_stages(repo_copy) == ["train"]
    params_path.write_text(original.replace("max_accuracy_drop: 0.02", "max_accuracy_drop: 0.05"))
    assert _stale_stages(repo_copy) == ["evaluate"]
    params_path.write_text(original.replace("- q8_0", "- q4_k_m"))
    assert _stale_stages(repo_copy) == ["export"]
    # KD settings re-train; they never re-run the teacher over the training data.
    params_path.write_text(original.replace("alpha: 0.5", "alpha: 0.3"))
    assert _stale_stages(repo_copy) == ["train"]
    params_path.write_text(original.replace("top_k: 20", "top_k: 10"))
    assert _stale_stages(repo_copy) == ["teacher_logits", "train"]
