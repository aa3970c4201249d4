"""The generate stage as users run it (a subprocess in a copy of the repository), killed with
SIGKILL mid-run and run again: it resumes, and no call that already succeeded is made again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import yaml

from .conftest import copy_repo
from .fake_teacher import shop_teacher
from .servers import FakeOpenAIServer


def _configure(repo, base_url: str) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["teacher"].update(provider="openai", model="fake-teacher", base_url=base_url, concurrency=2, timeout_s=5)
    params["generate"].update(target_examples=30)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _stage(repo, name: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.Popen(
        [sys.executable, "-m", f"stages.{name}"], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _call_identity(messages, seed) -> str:
    return json.dumps([messages, seed], sort_keys=True)


def test_generate_resumes_after_sigkill_without_repeating_calls(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    with FakeOpenAIServer(responder=shop_teacher(repo), latency_s=0.03) as srv:
        _configure(repo, srv.base_url)
        prepare = _stage(repo, "prepare")
        assert prepare.wait(timeout=120) == 0, prepare.communicate()[1].decode()[-2000:]
        (repo / "metrics").mkdir(exist_ok=True)
        (repo / "metrics/teacher_gate.json").write_text(json.dumps({"pass": True}))

        proc = _stage(repo, "generate")
        deadline = time.monotonic() + 120
        while sum(srv.successes.values()) < 25:
            assert proc.poll() is None, f"generate ended before the kill: {proc.communicate()[1].decode()[-2000:]}"
            assert time.monotonic() < deadline, "generate made no progress"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert not (repo / "data/synthetic/raw.jsonl").exists(), "a killed run must not leave a dataset behind"

        cached = set()
        for path in (repo / "data/teacher_cache/generate").rglob("*.json"):
            request = json.loads(path.read_text())["request"]
            cached.add(_call_identity(request["messages"], request["sample_index"]))
        assert len(cached) >= 20

        srv.reset_counts()
        resumed = _stage(repo, "generate")
        out, err = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, err.decode()[-3000:]
        repeated = [r for r in srv.requests if _call_identity(r["messages"], r.get("seed", 0)) in cached]
        assert repeated == [], f"{len(repeated)} already-cached calls were sent again"
        assert srv.attempts > 0, "the killed run cannot have finished everything"
    rows = (repo / "data/synthetic/raw.jsonl").read_text().splitlines()
    metrics = json.loads((repo / "metrics/generate.json").read_text())
    assert len(rows) == metrics["totals"]["kept"] > 0
    assert metrics["teacher_usage"]["cache_hits"] >= len(cached)


def test_dry_run_estimates_an_api_teacher_without_a_key_or_a_call(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["teacher"].update(provider="anthropic", model="claude-sonnet-4-6")
    params["generate"].update(target_examples=2000)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    prepare = _stage(repo, "prepare")
    assert prepare.wait(timeout=120) == 0
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "stages.generate", "--dry-run"],
        cwd=repo,
        env={**env, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    # Every asked-for candidate answered: vote samples for `direct` (no proposal), verify samples for the rest.
    g = params["generate"]
    total = sum(g["mix"].values())
    wanted = {kind: round(2000 * share / total) for kind, share in g["mix"].items() if share > 0}
    samples = {kind: g["self_consistency" if kind == "direct" else "verify"]["samples"] for kind in wanted}
    assert report["answer_calls"]["calls"] == sum(wanted[k] * samples[k] for k in wanted)
    assert report["total_usd_max"] > 1
    assert not (repo / "data/synthetic").exists() and not (repo / "data/teacher_cache").exists()
