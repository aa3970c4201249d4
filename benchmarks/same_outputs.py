"""Does a change keep the pipeline's outputs? Run the whole DAG on a small config twice, at a base
commit and on the working tree, each in a fresh copy, and compare every output file.

    python benchmarks/same_outputs.py --base f4042a6            # the default path, small
    python benchmarks/same_outputs.py --base f4042a6 --repeat   # and the base twice, as a control

The default path: the bundled llama.cpp teacher, KD on its soft labels, the 0.5B student, every
export; `generate.target_examples` 20 and `evaluate.limit` 10 keep it to about 7 minutes a run on
2 cores. Timings are left out of the comparison (wall times, latencies, tokens/s, cache `created`
stamps); JSON is compared parsed, so key order aside. peft writes adapter_config.json's
target_modules from a set, in hash order: it is compared sorted. With `--repeat` the base runs a
second time: what differs between two runs of the same code (the batched llama.cpp teacher can
decode a greedy answer differently when its batch differs) is not the change's doing. Each run
takes about 12 GB of disk while it lasts; it is removed once fingerprinted unless --keep.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = (
    "data/synthetic",
    "data/validated",
    "data/teacher_logits",
    "models/student",
    "models/base",
    "models/export",
    "data/eval",
    "data/teacher_cache",
    "metrics",
)
TIMING = {
    "seconds",
    "latency_s",
    "tokens_per_s",
    "seconds_per_answer",
    "mean_latency_s",
    "created",
    "wall_s",
    "trained_tokens_per_s",
    "latency_ratio",
    "cached_seconds",
}
SKIP = {"training_args.bin", "report.md", "report.html"}
"""Pickled trainer args (with a temp path) and the rendered report (timing columns)."""


def copy_tree(source: Path, dest: Path) -> None:
    """The tracked and untracked-but-not-ignored files of `source`, without results."""
    listing = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listing, cwd=source, capture_output=True, text=True, check=True).stdout.splitlines()
    for rel in files:
        if (
            rel == "dvc.lock"
            or rel.startswith("metrics/")
            or (rel.startswith("data/") and not rel.startswith("data/seeds/"))
        ):
            continue
        if (source / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, dest / rel)


def run_dag(source: Path, dest: Path) -> float:
    dest.mkdir(parents=True)
    copy_tree(source, dest)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["generate"]["target_examples"] = 20
    params["evaluate"].update(limit=10, speed_questions=2, hf_check_questions=2)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for git in (["init", "-q"], ["add", "-A"], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "copy"]):
        subprocess.run(["git", *git], cwd=dest, check=True)  # dvclive records the commit
    env = {**os.environ, "PYTHONPATH": str(dest), "PYTHONHASHSEED": "0"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=dest, env=env, check=True)
    return time.perf_counter() - start


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def fingerprint(path: Path) -> str:
    if path.suffix in (".json", ".jsonl"):
        text = path.read_text(encoding="utf-8")
        try:
            rows = (
                [json.loads(line) for line in text.splitlines() if line.strip()]
                if path.suffix == ".jsonl"
                else [json.loads(text)]
            )
        except json.JSONDecodeError:
            rows = None
        if rows is not None:
            if path.name == "adapter_config.json":
                rows = [{**r, "target_modules": sorted(r.get("target_modules") or [])} for r in rows]
            return hashlib.sha256(json.dumps(_strip(rows), sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprints(root: Path) -> dict[str, str]:
    return {
        str(f.relative_to(root)): fingerprint(f)
        for out in OUTPUTS
        for f in sorted((root / out).rglob("*"))
        if f.is_file() and f.name not in SKIP
    }


def differing(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return [k for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare the working tree with")
    parser.add_argument("--repeat", action="store_true", help="run the base twice, as a control")
    parser.add_argument("--keep", help="keep the runs in this folder (default: each run is removed once fingerprinted)")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="distill-same-"))
    base_tree = work / "base-tree"
    subprocess.run(["git", "worktree", "add", "-f", "-q", "--detach", str(base_tree), args.base], cwd=REPO, check=True)
    plan = [("base", base_tree), *([("base-again", base_tree)] if args.repeat else []), ("working-tree", REPO)]
    seconds, prints = {}, {}
    try:
        for name, source in plan:
            seconds[name] = run_dag(source, work / name)
            prints[name] = fingerprints(work / name)
            if not args.keep:  # a run holds about 12 GB of models: one at a time on disk
                shutil.rmtree(work / name)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=REPO, check=False)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for name in seconds:
        print(f"{name}: dvc repro {seconds[name]:.0f} s, {len(prints[name])} output files")
    comparisons = [("working tree vs base", "base", "working-tree")]
    if args.repeat:
        comparisons += [
            ("base vs base again (same code)", "base", "base-again"),
            ("working tree vs base again", "base-again", "working-tree"),
        ]
    for title, a, b in comparisons:
        changed = differing(prints[a], prints[b])
        print(f"{title}: {len(changed)} files differ")
        for path in changed:
            print(f"  {path}")


if __name__ == "__main__":
    main()
