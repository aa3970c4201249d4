"""Stage logic for `generate`: plan proposal calls per kind, ask the teacher, check, then label.

1. **Propose.** The teacher writes candidates: questions, with a proposed answer for every kind
   but `direct`.
2. **Check before paying.** A duplicate question (of another candidate or of a seed) is dropped,
   and so is a candidate the task's fixed rules reject (`Task.precheck`: for SQL, a query that
   does not parse, is not read-only, names a table or column the schema lacks, or returns no
   data), before any answer is paid for.
3. **Label.** A candidate with a proposal is answered `generate.verify.samples` times and kept
   when every answer gives the proposal's result (verification by agreement). A question without
   a proposal is answered `generate.self_consistency.samples` times and keeps the answer a strict
   majority agrees on. Either way the label is the teacher's answer to the prompt the student
   will see (labeling.py).

Every candidate ends up either in raw.jsonl or in dropped.jsonl with its reason.
`label_precision` measures the same path on the teacher-validation questions (precision.py).
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from distill.config import ConfigError, GenerateConfig
from distill.examples import Example, Rejection
from distill.generation.labeling import Vote, verify, vote
from distill.tasks.base import Task
from distill.teachers import CallResult, TeacherClient, TeacherRequest


@dataclass(frozen=True)
class Proposal:
    kind: str
    seeds: list[Example]
    count: int
    """Candidates asked for."""
    request: TeacherRequest


def plan_proposals(cfg: GenerateConfig, task: Task, pool: list[Example]) -> list[Proposal]:
    """Proposal calls per kind from `generate.mix` and `generate.target_examples`, deterministic
    for `generate.seed`, so a re-run asks exactly the same (cached) questions."""
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


def answer_requests(config: GenerateConfig, answer_tokens: int, task: Task, candidate: Example) -> list[TeacherRequest]:
    """The answer calls a candidate gets: verification samples when it has a proposal, vote
    samples when it has none, each up to `answer_tokens` (`evaluate.max_new_tokens`, the length
    every model answers in). Sample i is seeded with i."""
    cfg = config.verify if candidate.output else config.self_consistency
    messages = tuple(task.messages(candidate))
    return [
        TeacherRequest(messages, temperature=cfg.temperature, max_tokens=answer_tokens, sample_index=i)
        for i in range(cfg.samples)
    ]


def label(task: Task, candidate: Example, texts: list[str]) -> Vote:
    return verify(task, candidate, texts) if candidate.output else vote(task, candidate, texts)


def question_key(task: Task, example: Example) -> tuple[str, str]:
    """Two candidates with this key are one question (same context, such as a database, and the
    same words)."""
    return task.context(example), " ".join(example.input.lower().split())


@dataclass
class GenerationResult:
    kept: list[Example]
    dropped: list[Rejection]
    counts: dict
    budget_stop: str | None = None


def _record(candidate: Example) -> dict:
    return {
        "kind": candidate.metadata["kind"],
        "input": candidate.input,
        "proposed": candidate.output,
        "metadata": candidate.metadata,
    }


def checked_candidates(
    task: Task,
    proposals: list[Proposal],
    results: list[CallResult],
    pool: list[Example],
    workspace: Path,
    counts: dict[str, Counter],
    dropped: list[Rejection],
) -> list[Example]:
    """The candidates worth answering, from the proposal responses; every other one is counted
    and recorded in `dropped` with its reason."""
    candidates: list[Example] = []
    seen = {question_key(task, seed) for seed in pool}
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
            c["proposed"] += 1
            if cand.metadata.get("parse") == "raw_fallback":  # the teacher ignored the JSON format
                c["parse_fallbacks"] += 1
            key = question_key(task, cand)
            if key in seen:  # asked twice, or a seed's own question
                c["duplicate"] += 1
                dropped.append({**_record(cand), "reason": "duplicate", "stage": "precheck"})
                continue
            problem = task.precheck(cand)
            if problem is not None:  # not `seen`: another proposal of this question may pass
                c[problem.reason] += 1
                dropped.append(
                    {**_record(cand), "reason": problem.reason, "stage": "precheck", "detail": problem.detail}
                )
                continue
            seen.add(key)
            c["candidates"] += 1
            candidates.append(cand)
    return candidates


def label_candidates(
    config: GenerateConfig,
    answer_tokens: int,
    task: Task,
    candidates: list[Example],
    client: TeacherClient,
    counts: dict[str, Counter],
    dropped: list[Rejection],
    desc: str = "generate: answer",
) -> list[tuple[Example, str, Vote]]:
    """Answer every candidate and label it; returns (candidate, label, vote) for the kept ones,
    in candidate order. The progress bar shows the pairs kept so far."""
    plans = [answer_requests(config, answer_tokens, task, cand) for cand in candidates]
    owner = [i for i, plan in enumerate(plans) for _ in plan]
    texts: list[list[str | None]] = [[None] * len(plan) for plan in plans]
    errors: dict[int, str] = {}
    decisions: dict[int, Vote] = {}
    first = [0]
    for plan in plans:
        first.append(first[-1] + len(plan))

    def on_result(index: int, result: CallResult) -> dict:
        i = owner[index]
        if result.response is None:
            errors.setdefault(i, result.error or "teacher error")
        else:
            texts[i][index - first[i]] = result.response.text
        if i not in errors and all(t is not None for t in texts[i]):
            decisions[i] = label(task, candidates[i], texts[i])
        return {"kept": sum(d.output is not None for d in decisions.values())}

    client.run([r for plan in plans for r in plan], desc=desc, on_result=on_result)
    kept = []
    for i, cand in enumerate(candidates):
        kind, record = cand.metadata["kind"], _record(cand)
        if i in errors:
            counts[kind]["teacher_error"] += 1
            dropped.append({**record, "reason": "teacher_error", "detail": errors[i]})
            continue
        decision = decisions[i]
        votes = f"{decision.agreeing}/{decision.samples}"
        if decision.output is None:
            counts[kind][decision.reason] += 1
            dropped.append({**record, "reason": decision.reason, "votes": votes})
            continue
        counts[kind]["kept"] += 1
        kept.append((cand, decision.output, decision))
    return kept


def generate(
    config: GenerateConfig,
    answer_tokens: int,
    task: Task,
    pool: list[Example],
    client: TeacherClient,
    workspace: Path,
) -> GenerationResult:
    """Propose, check and label (the steps above) from the seed `pool`; invented resources (new
    databases) go to `workspace`. Answers are up to `answer_tokens` long."""
    proposals = plan_proposals(config, task, pool)
    counts: dict[str, Counter] = defaultdict(Counter)
    dropped: list[Rejection] = []
    results = client.run([p.request for p in proposals], desc="generate: propose")
    candidates = checked_candidates(task, proposals, results, pool, workspace, counts, dropped)
    kept: list[Example] = []
    for cand, output, decision in label_candidates(config, answer_tokens, task, candidates, client, counts, dropped):
        shape = task.structure(output, cand)
        meta = {
            **cand.metadata,
            "label": "verified" if cand.output else "voted",
            "votes": f"{decision.agreeing}/{decision.samples}",
        }
        if shape is not None:  # the answer's structure, not the teacher's claim
            meta["difficulty"] = shape.difficulty
        kept.append(Example(input=cand.input, output=output, metadata=meta, id=f"syn-{len(kept):05d}"))
    return GenerationResult(kept, dropped, {k: dict(v) for k, v in sorted(counts.items())}, client.budget_stop)


def estimate(
    config: GenerateConfig, answer_tokens: int, task: Task, pool: list[Example], client: TeacherClient
) -> dict:
    """Dry run: the proposal calls exactly; the answer calls as if every asked-for candidate came
    back and passed the checks (an upper bound), each kind with its own answer count (verify or
    vote samples), using a seed's prompt as the typical size. Nothing is called."""
    proposals = plan_proposals(config, task, pool)
    propose = client.estimate([p.request for p in proposals])
    answers = {"calls": 0, "cached": 0, "input_tokens": 0, "output_tokens_max": 0, "usd_max": 0.0}
    bare = dataclasses.replace(pool[0], output="")
    for proposal in proposals:
        typical = bare if proposal.kind in task.question_only_kinds else pool[0]
        one = client.estimate(answer_requests(config, answer_tokens, task, typical))
        for key in answers:
            answers[key] += one[key] * proposal.count
    answers["usd_max"] = round(answers["usd_max"], 4)
    return {
        "proposal_calls": propose,
        "answer_calls": answers,
        "total_usd_max": round(propose["usd_max"] + answers["usd_max"], 4),
    }
