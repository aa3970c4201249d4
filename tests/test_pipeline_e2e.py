"""`dvc repro` end to end on a tiny override, in a temp copy of the repository."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from .conftest import REPO

pytestmark = pytest.mark.integration


def _run(cmd, cwd):
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def repo_copy(tmp_path):
    dest = tmp_path / "repo"
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for rel in tracked.splitlines():
        if rel in ("dvc.lock",) or rel.startswith("metrics/"):
            continue  # start from no results at all
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest / rel)
    _run(["git", "init", "-q"], dest)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["evaluate"].update(limit=3, max_new_tokens=48)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


def _stale_stages(repo):
    status = json.loads(_run([sys.executable, "-m", "dvc", "status", "--json"], repo) or "{}")
    return sorted(status)


def test_repro_writes_metrics_then_is_cached_and_params_are_precise(repo_copy):
    _run([sys.executable, "-m", "dvc", "repro"], repo_copy)
    metrics = json.loads((repo_copy / "metrics/eval.json").read_text())
    assert metrics["n"] == 3
    assert set(metrics["models"]) == {"base", "teacher"}
    for block in metrics["models"].values():
        assert block["n"] == 3 and 0.0 <= block["execution_accuracy"] <= 1.0
        assert block["ci95"][0] <= block["execution_accuracy"] <= block["ci95"][1]
    predictions = (repo_copy / "data/eval/predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 6
    assert (repo_copy / "data/prepared/resources/shop.sqlite").is_file()

    # Nothing to do right after a run.
    assert _stale_stages(repo_copy) == []
    assert "didn't change" in _run([sys.executable, "-m", "dvc", "repro"], repo_copy)

    # An evaluate param makes only evaluate stale; a prepare param makes prepare stale (and
    # evaluate follows once prepare's outputs change).
    params_path = repo_copy / "params.yaml"
    original = params_path.read_text()
    params_path.write_text(original.replace("limit: 3", "limit: 2"))
    assert _stale_stages(repo_copy) == ["evaluate"]
    params_path.write_text(original.replace("seed: 42", "seed: 7"))
    assert _stale_stages(repo_copy) == ["prepare"]
