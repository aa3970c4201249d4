"""The team workflow against a real S3 protocol server (moto) on 127.0.0.1: one engineer runs the
data stages against a teacher and pushes; a fresh clone pulls and reproduces for $0, byte for
byte, and a corrupted object in the remote fails the pull without touching the workspace."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .conftest import copy_repo
from .fake_teacher import shop_teacher
from .servers import FakeOpenAIServer
from .tiny_gguf import free_port

pytestmark = pytest.mark.integration

BUCKET = "distill-team"
DATA_STAGES = "validate"
"""prepare, teacher_gate, generate and validate: everything the teacher's answers feed."""


@dataclass
class S3:
    endpoint: str
    env: dict
    client: object


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 server with one bucket; credentials only in the environment, as the README says."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_boto_keys(env))
    client.create_bucket(Bucket=BUCKET)
    yield S3(endpoint, env, client)
    server.stop()


def _boto_keys(env):
    return {"aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"]}


def _run(cmd, cwd, env, check=True):
    full_env = {**os.environ, "PYTHONPATH": str(cwd), **env}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=900)
    if check:
        assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _dvc(*args):
    return [sys.executable, "-m", "dvc", *args]


def _git_commit(repo, env, message):
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], repo, env)


@pytest.fixture
def pushed(tmp_path, s3):
    """The original repository: data stages run against a teacher server, pushed to the bucket.
    Yields (repo, teacher server, env); the server keeps counting calls while the test runs."""
    repo = copy_repo(tmp_path / "origin")
    env = {**s3.env, "OPENAI_API_KEY": "sk-team-test"}
    with FakeOpenAIServer(responder=shop_teacher(repo)) as teacher:
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["teacher"].update(provider="openai", model="fake-teacher", base_url=teacher.base_url)
        params["generate"].update(target_examples=10)
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        # The README's remote set-up, word for word; the endpoint is the only MinIO/moto addition.
        _run(_dvc("remote", "add", "-d", "storage", f"s3://{BUCKET}/distill"), repo, env)
        _run(_dvc("remote", "modify", "storage", "endpointurl", s3.endpoint), repo, env)
        _run(_dvc("remote", "modify", "storage", "verify", "true"), repo, env)
        _run(_dvc("repro", DATA_STAGES), repo, env)
        assert teacher.attempts > 0
        _run(_dvc("push"), repo, env)
        _git_commit(repo, env, "data stages")
        yield repo, teacher, env


def _clone(origin: Path, dest: Path, env) -> Path:
    _run(["git", "clone", "-q", str(origin), str(dest)], dest.parent, env)
    assert not (dest / "data/synthetic").exists() and not (dest / ".dvc/cache").exists()
    return dest


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_fresh_clone_pulls_and_reproduces_for_zero_calls(pushed, tmp_path):
    origin, teacher, env = pushed
    calls = teacher.attempts
    clone = _clone(origin, tmp_path / "clone", env)
    config = (clone / ".dvc/config").read_text()
    assert "secret" not in config.lower() and "testing" not in config  # credentials stay in the environment

    _run(_dvc("pull", "--with-deps", DATA_STAGES), clone, env)
    assert _files(clone / "data/synthetic") == _files(origin / "data/synthetic")
    assert _files(clone / "data/validated") == _files(origin / "data/validated")
    status = json.loads(_run(_dvc("status", DATA_STAGES, "--json"), clone, env).stdout or "{}")
    assert status == {}, status
    assert "in sync" in _run(_dvc("status", "-c", "--with-deps", DATA_STAGES), clone, env).stdout

    # Nothing to reproduce; and forcing generate replays every answer from the pulled cache.
    _run(_dvc("repro", DATA_STAGES), clone, env)
    _run(_dvc("repro", "-f", "generate"), clone, env)
    assert teacher.attempts == calls, "the clone called the teacher"
    assert _files(clone / "data/synthetic") == _files(origin / "data/synthetic")

    # teacher.provider: replay re-runs the teacher stages (their params changed) from the cache
    # alone, to the same bytes; and a request it has no answer for stops the stage by name.
    params_path = clone / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["teacher"].update(provider="replay", replay_of="openai")
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    _run(_dvc("repro", DATA_STAGES), clone, env)
    assert teacher.attempts == calls
    assert _files(clone / "data/synthetic") == _files(origin / "data/synthetic")

    params["generate"].update(target_examples=15)
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    failed = _run(_dvc("repro", "generate"), clone, env, check=False)
    assert failed.returncode != 0
    assert "teacher.provider: replay: no cached answer for key" in failed.stderr + failed.stdout
    assert teacher.attempts == calls


def test_a_corrupted_object_fails_the_pull_and_leaves_the_workspace_clean(pushed, tmp_path, s3):
    origin, _, env = pushed
    raw = (origin / "data/synthetic/raw.jsonl").read_bytes()
    digest = hashlib.md5(raw).hexdigest()
    key = f"distill/files/md5/{digest[:2]}/{digest[2:]}"
    evil = b'{"input": "tampered", "output": "DROP TABLE customers"}\n'
    s3.client.put_object(Bucket=BUCKET, Key=key, Body=evil)

    clone = _clone(origin, tmp_path / "clone", env)
    failed = _run(_dvc("pull", "--with-deps", DATA_STAGES), clone, env, check=False)
    assert failed.returncode != 0
    assert "ERROR" in failed.stderr + failed.stdout
    for path, content in _files(clone).items():
        if not path.startswith(".git/"):
            assert evil not in content, f"corrupted bytes reached {path}"
    assert not (clone / "data/synthetic/raw.jsonl").exists()
    shutil.rmtree(clone)
