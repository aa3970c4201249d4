"""Stage logic for `generate`: plan proposal calls per kind, ask the teacher, vote on the answers.

Phase 1 asks the teacher for candidates (questions, with a proposed answer for most kinds).
Phase 2 answers every candidate `samples` times with the same prompt the student will see, and
keeps the execution-majority answer (see self_consistency.py). Every candidate ends up either in
raw.jsonl or in dropped.jsonl with its reason, so nothing is silently lost.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from distill.config import ConfigError, Params
from distill.examples import Example
from distill.generation.self_consistency import vote
from distill.tasks.base import Task
from distill.teachers import TeacherClient, TeacherRequest


@dataclass(frozen=True)
class Proposal:
    kind: str
    seeds: list[Example]
    count: int
    """Candidates asked for."""
    request: TeacherRequest


def plan_proposals(params: Params, task: Task, pool: list[Example]) -> list[Proposal]:
    """Proposal calls per kind from `generate.mix` and `generate.target_examples`, deterministic
    for `generate.seed`, so a re-run asks exactly the same (cached) questions."""
    cfg = params.generate
    mix = {k: v for k, v in dataclasses.asdict(cfg.mix).items() if v > 0}
    unsupported = sorted(set(mix) - set(task.generation_kinds))
    if unsupported:
        raise ConfigError(f"params.yaml: generate.mix.{unsupported[0]}: task {task.name!r} has no such kind")
    if not pool:
        raise ConfigError("no seed examples to generate from (the teacher-validation split is empty)")
    total = sum(mix.values())
    rng = random.Random(cfg.seed)
    proposals = []
    for kind, share in mix.items():
        wanted = round(cfg.target_examples * share / total)
        for call in range(math.ceil(wanted / cfg.per_call)):
            count = min(cfg.per_call, wanted - call * cfg.per_call)
            seeds = task.pick_seeds(kind, pool, rng)
            messages = task.proposal_messages(kind, seeds, count)
            request = TeacherRequest(
                tuple(messages), temperature=cfg.temperature, max_tokens=cfg.max_new_tokens, sample_index=call
            )
            proposals.append(Proposal(kind, seeds, count, request))
    return proposals


def answer_requests(params: Params, task: Task, candidate: Example) -> list[TeacherRequest]:
    sc = params.generate.self_consistency
    messages = tuple(task.messages(candidate))
    return [
        TeacherRequest(messages, temperature=sc.temperature, max_tokens=params.evaluate.max_new_tokens, sample_index=i)
        for i in range(sc.samples)
    ]


@dataclass
class GenerationResult:
    kept: list[Example]
    dropped: list[dict]
    counts: dict
    budget_stop: str | None = None


def generate(
    params: Params, task: Task, pool: list[Example], client: TeacherClient, workspace: Path
) -> GenerationResult:
    proposals = plan_proposals(params, task, pool)
    counts: dict[str, Counter] = defaultdict(Counter)
    dropped: list[dict] = []
    results = client.run([p.request for p in proposals], desc="generate: propose")

    candidates: list[Example] = []
    seen: set[tuple[str, str]] = set()
    for proposal, result in zip(proposals, results, strict=True):
        c = counts[proposal.kind]
        c["proposal_calls"] += 1
        if result.response is None:
            c["proposal_calls_failed"] += 1
            dropped.append({"kind": proposal.kind, "reason": "teacher_error", "detail": result.error})
            continue
        parsed = task.parse_proposals(result.response.text, proposal.kind, proposal.seeds, workspace)
        if not parsed:
            c["proposal_calls_unparsed"] += 1
            dropped.append({"kind": proposal.kind, "reason": "unparsed_proposal", "detail": result.response.text[:500]})
        for cand in parsed:
            key = (cand.metadata.get("db", ""), cand.input.lower())
            if key in seen:  # the same question proposed twice is one candidate
                c["duplicate_proposals"] += 1
                continue
            seen.add(key)
            c["candidates"] += 1
            if cand.metadata.get("parse") == "raw_fallback":  # the teacher ignored the JSON format
                c["parse_fallbacks"] += 1
            candidates.append(cand)

    samples = params.generate.self_consistency.samples
    requests = [r for cand in candidates for r in answer_requests(params, task, cand)]
    answers = client.run(requests, desc="generate: answer")
    kept: list[Example] = []
    for i, cand in enumerate(candidates):
        kind = cand.metadata["kind"]
        batch = answers[i * samples : (i + 1) * samples]
        record = {"kind": kind, "input": cand.input, "proposed": cand.output, "metadata": cand.metadata}
        if any(r.response is None for r in batch):
            counts[kind]["teacher_error"] += 1
            dropped.append({**record, "reason": "teacher_error", "detail": next(r.error for r in batch if r.error)})
            continue
        decision = vote(task, cand, [r.response.text for r in batch])
        if decision.output is None:
            counts[kind][decision.reason] += 1
            dropped.append({**record, "reason": decision.reason, "votes": f"{decision.agreeing}/{decision.samples}"})
            continue
        counts[kind]["kept"] += 1
        meta = {**cand.metadata, "votes": f"{decision.agreeing}/{decision.samples}"}
        kept.append(Example(input=cand.input, output=decision.output, metadata=meta, id=f"syn-{len(kept):05d}"))
    return GenerationResult(kept, dropped, {k: dict(v) for k, v in sorted(counts.items())}, client.budget_stop)


def estimate(params: Params, task: Task, pool: list[Example], client: TeacherClient) -> dict:
    """Dry run: the proposal calls exactly, the answer calls as if every asked-for candidate came
    back (using a seed's prompt as the typical size). Nothing is called."""
    proposals = plan_proposals(params, task, pool)
    typical = answer_requests(params, task, pool[0])
    expected_candidates = sum(p.count for p in proposals)
    propose = client.estimate([p.request for p in proposals])
    answer_one = client.estimate(typical)
    return {
        "proposal_calls": propose,
        "answer_calls": {k: v * expected_candidates for k, v in answer_one.items()},
        "total_usd_max": round(propose["usd_max"] + answer_one["usd_max"] * expected_candidates, 4),
    }
