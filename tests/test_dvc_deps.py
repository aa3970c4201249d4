"""dvc.yaml against the code: every stage's `deps:` is exactly the import closure of its script,
and its `params:` exactly the keys it reads. A dep missing means an edit that DVC silently does
not re-run; a param missing, a changed param that re-runs nothing.

- Deps: the closure counts imports inside functions, `importlib.import_module` and the sandbox's
  runner script (tests/imports.py). A folder dep stands for every module in it, so it is right
  only where the stage runs all of them; elsewhere the modules are listed.
- Params: the whole DAG runs once on a tiny config, with params that record every key read
  (tests/param_reads.py); each stage's recorded keys must match its `params:` entries.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from distill.config import Params

from .conftest import copy_repo
from .imports import REPO, closure
from .param_reads import HOOK_DIR, RECORD_READS_ENV

STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
CODE = ("distill/", "stages/")


def script(stage: dict) -> Path:
    """stages/<name>.py from `cmd: python -m stages.<name>`."""
    module = stage["cmd"].split("-m", 1)[1].split()[0]
    return REPO / (module.replace(".", "/") + ".py")


def code_deps(deps: list[str]) -> set[str]:
    """The Python files that `deps` covers: a folder stands for every module under it."""
    covered = set()
    for dep in deps:
        path = REPO / dep
        if not dep.startswith(CODE):
            continue
        if path.is_dir():
            covered |= {str(p.relative_to(REPO)) for p in path.rglob("*.py")}
        else:
            covered.add(dep)
    return covered


def dep_problems(name: str, deps: list[str], needed: set[str]) -> list[str]:
    """What is wrong with stage `name`'s code deps against the files it runs (`needed`)."""
    covered = code_deps(deps)
    problems = [f"{name}: runs {f} but deps: misses it" for f in sorted(needed - covered)]
    for dep in deps:
        if dep.startswith(CODE) and (unused := sorted(code_deps([dep]) - needed)):
            problems.append(f"{name}: deps: {dep} covers {', '.join(unused)}, which it never imports")
    return problems


def test_every_stage_depends_on_exactly_the_code_it_runs():
    problems = []
    for name, stage in STAGES.items():
        needed = {str(p.relative_to(REPO)) for p in closure(script(stage))}
        problems += dep_problems(name, stage["deps"], needed)
    assert not problems, "\n".join(problems)


def test_the_deps_check_catches_a_missing_module_and_a_package_it_does_not_run():
    stage = STAGES["prepare"]
    needed = {str(p.relative_to(REPO)) for p in closure(script(stage))}
    assert "distill/preparation.py" in needed
    missing = [d for d in stage["deps"] if d != "distill/preparation.py"]
    assert dep_problems("prepare", missing, needed) == ["prepare: runs distill/preparation.py but deps: misses it"]
    (problem,) = dep_problems("prepare", [*stage["deps"], "distill/export"], needed)
    assert problem.startswith("prepare: deps: distill/export covers distill/export/")


def _outputs(stage: dict) -> set[str]:
    entries = [*stage.get("outs", []), *stage.get("metrics", []), *stage.get("plots", [])]
    return {next(iter(e)) if isinstance(e, dict) else e for e in entries}


def test_every_data_dep_is_a_seed_or_another_stage_output():
    produced = {name: _outputs(stage) for name, stage in STAGES.items()}
    problems = []
    for name, stage in STAGES.items():
        for dep in stage["deps"]:
            if dep.startswith(CODE) or dep.startswith("data/seeds/"):
                continue
            makers = [
                s
                for s, outs in produced.items()
                if s != name and any(dep == o or dep.startswith(f"{o}/") for o in outs)
            ]
            if not makers:
                problems.append(f"{name}: deps: {dep} is neither a seed nor any other stage's output")
    assert not problems, "\n".join(problems)


# -- params -----------------------------------------------------------------------------------------

SWITCHED = {"teacher": "teacher.provider", "task": "task.name", "train": "train.loss"}
"""Sections whose keys in use depend on one switch: which provider, which task, which loss. A stage
that reads the switch may list the whole section, since any key of it may be the one in use."""


GATED = {
    "train.kd.fallback_to_sft": "train.loss",
    "evaluate.temperature": "evaluate.samples",
    "evaluate.speed_questions": "teacher.provider",
}
"""Keys read only on one side of a switch (fallback_to_sft only under train.loss kd, the sampling
temperature only when evaluate.samples > 1, the teacher's timing only for a local teacher). A
stage that lists one and reads its switch is right: the run took the other side."""


def _leaves(section) -> set[str]:
    out = set()
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        out |= {f"{f.name}.{k}" for k in _leaves(value)} if dataclasses.is_dataclass(value) else {f.name}
    return out


LEAVES = _leaves(Params())
"""Every key params.yaml can hold, dotted."""


def param_problems(name: str, declared: list[str], read: set[str]) -> list[str]:
    """What is wrong with stage `name`'s `params:` against the keys it read: a key read but not
    covered, an entry with nothing read under it (unless GATED behind a switch it read), and a
    whole section listed where the stage reads only part of it (unless the section is SWITCHED
    and the stage reads its switch)."""

    def under(entry: str, keys: set[str]) -> set[str]:
        return {k for k in keys if k == entry or k.startswith(f"{entry}.")}

    problems = [
        f"{name}: reads {key} but params: does not list it"
        for key in sorted(read)
        if not any(under(entry, {key}) for entry in declared)
    ]
    for entry in declared:
        if not under(entry, read) and not (entry in GATED and GATED[entry] in read):
            problems.append(f"{name}: params: lists {entry}, which it never reads")
        elif (
            entry not in LEAVES
            and not (entry in SWITCHED and SWITCHED[entry] in read)
            and (unread := sorted(under(entry, LEAVES) - read))
        ):
            problems.append(f"{name}: params: lists all of {entry} but never reads {', '.join(unread)}")
    return problems


def test_the_params_check_catches_an_unread_param_and_a_read_one_not_listed():
    read = {"train.lr", "train.kd.top_k", "task.name", "task.sql_timeout_s"}
    assert param_problems("s", ["train.lr", "train.kd.top_k", "task"], read) == []
    assert param_problems("s", ["train.lr", "train.kd.top_k", "task", "train.epochs"], read) == [
        "s: params: lists train.epochs, which it never reads"
    ]
    assert param_problems("s", ["train.lr", "task"], read) == ["s: reads train.kd.top_k but params: does not list it"]
    assert param_problems("s", ["train.lr", "train.kd.top_k", "task", "train.kd.fallback_to_sft"], read) == [
        "s: params: lists train.kd.fallback_to_sft, which it never reads"
    ]
    assert (
        param_problems(
            "s", ["train.lr", "train.kd.top_k", "train.loss", "task", "train.kd.fallback_to_sft"], {*read, "train.loss"}
        )
        == []
    )
    assert param_problems("s", ["train.lr", "train.kd", "task"], read) == [
        "s: params: lists all of train.kd but never reads "
        "train.kd.alpha, train.kd.fallback_to_sft, train.kd.temperature"
    ]


@pytest.fixture(scope="module")
def params_read(tmp_path_factory):
    """stage → the keys it read, from one run of the DAG on a tiny config (the e2e test's), with
    the scripted OpenAI-compatible teacher."""
    from .fake_teacher import shop_teacher
    from .servers import FakeOpenAIServer

    repo = copy_repo(tmp_path_factory.mktemp("deps") / "repo")
    reads = tmp_path_factory.mktemp("reads")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["student"]["model"] = "smollm2-135m-instruct"
    params["evaluate"].update(limit=2, max_new_tokens=32, speed_questions=1, hf_check_questions=1)
    params["train"].update(epochs=1, batch_size=4)
    params["export"].update(quantizations=["q8_0"])
    params["generate"]["target_examples"] = 12
    with FakeOpenAIServer(responder=shop_teacher(repo)) as server:
        params["teacher"].update(provider="openai", base_url=server.base_url, model="fake-teacher")
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        hook = repo / HOOK_DIR.relative_to(REPO)
        env = {
            **os.environ,
            "PYTHONPATH": f"{hook}{os.pathsep}{repo}",
            "OPENAI_API_KEY": "sk-test",
            RECORD_READS_ENV: str(reads),
        }
        for git in (["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
            subprocess.run(["git", *git], cwd=repo, check=True)  # dvclive records the commit
        proc = subprocess.run(
            [sys.executable, "-m", "dvc", "repro"], cwd=repo, env=env, capture_output=True, text=True, timeout=1200
        )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {p.stem: set(json.loads(p.read_text())) for p in reads.glob("*.json")}


@pytest.mark.integration
def test_every_stage_lists_exactly_the_params_it_reads(params_read):
    assert set(params_read) == set(STAGES) - {"report"}, "every stage but the report reads params.yaml"
    problems = []
    for name, stage in STAGES.items():
        problems += param_problems(name, [str(p) for p in stage.get("params", [])], params_read.get(name, set()))
    assert not problems, "\n".join(problems)
    # Planted on real recordings: an unread param, and a param read but not listed.
    prepare = [str(p) for p in STAGES["prepare"]["params"]]
    assert param_problems("prepare", [*prepare, "train.lr"], params_read["prepare"]) == [
        "prepare: params: lists train.lr, which it never reads"
    ]
    assert param_problems("prepare", [p for p in prepare if p != "prepare"], params_read["prepare"]) == [
        "prepare: reads prepare.seed but params: does not list it",
        "prepare: reads prepare.teacher_val_fraction but params: does not list it",
    ]
