"""A learning-rate sweep as a team runs one: two experiments queued with `dvc exp run --queue -S`,
run by `dvc queue start`, compared with `dvc exp show`. On a tiny student, a scripted teacher
behind the real openai SDK, and a three-question evaluation, so it takes a few minutes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from .conftest import copy_repo
from .fake_teacher import shop_teacher
from .servers import FakeOpenAIServer

pytestmark = pytest.mark.integration

LEARNING_RATES = ("0.001", "0.0001")


def _run(cmd, cwd, env):
    full_env = {**os.environ, "PYTHONPATH": str(cwd), **env}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _dvc(*args):
    return [sys.executable, "-m", "dvc", *args]


def _commit(repo, env, message):
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], repo, env)


def _wait_for_queue(repo, env, timeout_s=900):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = _run(_dvc("queue", "status"), repo, env)
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(3)
    raise AssertionError(f"queue still busy after {timeout_s}s:\n{status}")


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_a_queued_learning_rate_sweep_shows_params_accuracy_and_cost(tmp_path, tiny_checkpoint):
    repo = copy_repo(tmp_path / "repo")
    env = {"OPENAI_API_KEY": "sk-sweep-test"}
    with FakeOpenAIServer(responder=shop_teacher(repo)) as teacher:
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["teacher"].update(provider="openai", model="fake-teacher", base_url=teacher.base_url)
        params["generate"].update(target_examples=10)
        params["student"]["model"] = tiny_checkpoint
        params["train"].update(epochs=1, batch_size=4, grad_accum=1)
        params["evaluate"].update(limit=3, max_new_tokens=16, speed_questions=1, hf_check_questions=1)
        params["export"].update(quantizations=["q8_0"])
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        _commit(repo, env, "tiny config")
        _run(_dvc("repro"), repo, env)
        _commit(repo, env, "baseline")
        calls = teacher.attempts

        for lr in LEARNING_RATES:
            _run(_dvc("exp", "run", "--queue", "-S", f"train.lr={lr}", "-n", f"lr-{lr}"), repo, env)
        _run(_dvc("queue", "start", "-j", "1"), repo, env)
        status = _wait_for_queue(repo, env)
        assert "Failed" not in status, status + _run(_dvc("queue", "logs", f"lr-{LEARNING_RATES[0]}"), repo, env)
        # The sweep re-trains and re-evaluates; the teacher's answers come from the cache.
        assert teacher.attempts == calls

    shown = json.loads(_run(_dvc("exp", "show", "--json"), repo, env))
    experiments = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for revision in exp["revs"]:
                data = revision["data"]
                experiments[revision["name"]] = {
                    "params": _flatten(data["params"]["params.yaml"]["data"]),
                    "metrics": {path: _flatten(m["data"]) for path, m in data["metrics"].items()},
                }
    assert set(experiments) == {f"lr-{lr}" for lr in LEARNING_RATES}, sorted(experiments)
    for lr in LEARNING_RATES:
        exp = experiments[f"lr-{lr}"]
        assert exp["params"]["train.lr"] == float(lr)
        evaluated = exp["metrics"]["metrics/eval.json"]
        assert 0.0 <= evaluated["models.student.execution_accuracy"] <= 1.0
        assert evaluated["models.teacher.execution_accuracy"] == 1.0
        assert "teacher_usage.usd" in exp["metrics"]["metrics/generate.json"]
        assert exp["metrics"]["metrics/train.json"]["steps"] >= 1
    # The table a user reads has the same columns.
    table = _run(_dvc("exp", "show", "--csv"), repo, env)
    header = table.splitlines()[0].split(",")
    assert {"train.lr", "models.student.execution_accuracy"} <= set(header), header
    # teacher_usage is in three metrics files, so DVC prefixes those columns with the file.
    assert any(column.endswith("generate.json:teacher_usage.usd") for column in header), header
