"""Typed params: `params.yaml` is loaded once, validated, and passed down as dataclasses.

Every error names the offending key (for example `params.yaml: evaluate.batch_size: expected an
integer >= 1, got 0`), so a typo never surfaces as a KeyError deep inside a stage.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A bad or missing param; the message names the key."""


@dataclass(frozen=True)
class TaskConfig:
    name: str = "text2sql"
    """Which task (`distill.tasks`): prompt format, extraction, validation and scoring."""
    seeds: str = "data/seeds/text2sql/seeds.jsonl"
    """Hand-written seed examples, JSONL."""
    source_dir: str = "data/seeds/text2sql"
    """Task resources; for text2sql, one folder per database with schema.sql (and data.sql)."""
    sql_timeout_s: float = 5.0
    """Wall-clock limit for one generated query."""
    sql_max_rows: int = 10_000
    """Results longer than this count as an error rather than being compared."""


@dataclass(frozen=True)
class PrepareConfig:
    seed: int = 42
    teacher_val_fraction: float = 0.2
    """Share of seeds (stratified by difficulty) held out to gate the teacher; the rest is test."""


@dataclass(frozen=True)
class TeacherConfig:
    model: str = "qwen2.5-coder-1.5b-instruct"
    """A bundled alias, a local .gguf path, or a hub id `org/repo:file.gguf`."""
    n_ctx: int = 4096
    """llama.cpp context window."""


@dataclass(frozen=True)
class StudentConfig:
    model: str = "smollm2-135m-instruct"
    """A bundled alias, a local HF model folder, or a hub id."""


@dataclass(frozen=True)
class EvaluateConfig:
    limit: int = 0
    """Evaluate only the first N test questions; 0 means all."""
    batch_size: int = 8
    """Batch size for transformers generation."""
    max_new_tokens: int = 160
    """Answer-length cap, the same for every model."""
    threads: int = 2
    """CPU threads for torch and llama.cpp."""


@dataclass(frozen=True)
class Params:
    task: TaskConfig = field(default_factory=TaskConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)


# Range checks that a type alone cannot express: key -> (predicate, what is expected).
_CHECKS = {
    "task.sql_timeout_s": (lambda v: v > 0, "a number > 0"),
    "task.sql_max_rows": (lambda v: v >= 1, "an integer >= 1"),
    "prepare.teacher_val_fraction": (lambda v: 0 < v < 1, "a number strictly between 0 and 1"),
    "teacher.n_ctx": (lambda v: v >= 256, "an integer >= 256"),
    "evaluate.limit": (lambda v: v >= 0, "an integer >= 0 (0 = all)"),
    "evaluate.batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "evaluate.max_new_tokens": (lambda v: v >= 1, "an integer >= 1"),
    "evaluate.threads": (lambda v: v >= 1, "an integer >= 1"),
}


def _coerce(value, typ, key: str, where: str):
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(typ)
        if value is None and type(None) in args:
            return None
        (typ,) = [a for a in args if a is not type(None)]
    if dataclasses.is_dataclass(typ):
        return _build(typ, value, key, where)
    if typ is bool:
        ok = isinstance(value, bool)
    elif typ is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif typ is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif typ is str:
        ok = isinstance(value, str) and value != ""
    else:  # pragma: no cover - only reached if a new field type is added without support here
        raise TypeError(f"unsupported config type {typ} for {key}")
    if not ok:
        raise ConfigError(f"{where}: {key}: expected {typ.__name__}, got {value!r}")
    return value


def _build(cls, data, prefix: str, where: str):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: {prefix}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"{where}: unknown key {key!r}; known keys here: {', '.join(sorted(names))}")
    kwargs = {}
    for name in names & set(data):
        key = f"{prefix}.{name}" if prefix else name
        value = _coerce(data[name], hints[name], key, where)
        check = _CHECKS.get(key)
        if check and value is not None and not check[0](value):
            raise ConfigError(f"{where}: {key}: expected {check[1]}, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Load and validate params.yaml; missing sections and keys take the documented defaults."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; run from the repository root") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    return _build(Params, data, "", str(path))
