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

from distill.errors import ConfigError, DataError
from distill.io import read_text


@dataclass(frozen=True)
class SandboxConfig:
    """Limits for running generated code (distill/sandbox.py), one process per run."""

    cpu_s: int = 5
    """RLIMIT_CPU: CPU seconds before the kernel kills it."""
    wall_s: float = 10.0
    """Wall-clock seconds before its whole process group is killed."""
    memory_mb: int = 1024
    """RLIMIT_AS: address space in MiB (an allocation beyond it raises MemoryError)."""
    max_processes: int = 32
    """RLIMIT_NPROC: processes it may have at once (fork fails beyond it)."""
    file_size_mb: int = 16
    """RLIMIT_FSIZE: the largest file it may write, in MiB."""


@dataclass(frozen=True)
class TaskConfig:
    name: str = "text2sql"
    """Which task (`distill.tasks`): prompt format, extraction, validation and scoring."""
    seeds: str | None = None
    """Hand-written seed examples, JSONL; null means data/seeds/<name>/seeds.jsonl."""
    source_dir: str | None = None
    """Task resources; null means data/seeds/<name>. For text2sql, one folder per database with
    schema.sql (and data.sql); for code, nothing is needed beyond the seeds."""
    sql_timeout_s: float = 5.0
    """text2sql: wall-clock limit for one generated query."""
    sql_max_rows: int = 10_000
    """text2sql: results longer than this count as an error rather than being compared."""
    sql_max_result_mb: float = 64.0
    """text2sql: a result whose values add up to more than this many MB (10^6 bytes) fails as
    "result too large"; checked row by row while fetching, so a runaway answer cannot exhaust memory."""
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    """code: limits for executing generated code."""

    def __post_init__(self):
        # Derived here so that `-S task.name=code` alone switches the seeds and resources too.
        if self.seeds is None:
            object.__setattr__(self, "seeds", f"data/seeds/{self.name}/seeds.jsonl")
        if self.source_dir is None:
            object.__setattr__(self, "source_dir", f"data/seeds/{self.name}")


@dataclass(frozen=True)
class PrepareConfig:
    seed: int = 42
    teacher_val_fraction: float = 0.2
    """Share of seeds (stratified by difficulty) held out to gate the teacher; the rest is test."""


CALLING_PROVIDERS = ("llamacpp", "openai", "anthropic", "hf")
TEACHER_PROVIDERS = (*CALLING_PROVIDERS, "replay")


@dataclass(frozen=True)
class TeacherConfig:
    provider: str = "llamacpp"
    """llamacpp (in-process GGUF), openai (OpenAI or any compatible server), anthropic, hf, or
    replay (answers only from the teacher cache, e.g. one pulled with `dvc pull`; never calls)."""
    replay_of: str | None = None
    """provider: replay only: the provider whose cached answers are served (with teacher.model)."""
    model: str = "qwen2.5-coder-1.5b-instruct"
    """llamacpp: a bundled alias, .gguf path or `org/repo:file.gguf`; hf: alias, folder or hub id;
    openai/anthropic: the API model name."""
    base_url: str | None = None
    """openai: the server, e.g. http://localhost:8000/v1 (vLLM, Ollama, llama.cpp); anthropic: optional."""
    api_key_env: str | None = None
    """Name of the environment variable holding the key (default OPENAI_API_KEY / ANTHROPIC_API_KEY).
    Keys are never read from params."""
    n_ctx: int = 4096
    """llama.cpp context window."""
    threads: int = 2
    """CPU threads for an in-process teacher (llamacpp, hf)."""
    concurrency: int = 8
    """Calls in flight at once (API providers; in-process providers run one at a time)."""
    timeout_s: float = 120.0
    """Per-call timeout."""
    max_retries: int = 5
    """Retries per call on 429/5xx/timeouts (by the SDK) and on empty or malformed responses."""
    budget_usd: float | None = 20.0
    """Hard cap on spend for one stage run; null means no cap. Cached responses cost nothing."""
    price_input_per_mtok: float | None = None
    """USD per million input tokens; null = the known-model table in distill/teachers/ledger.py."""
    price_output_per_mtok: float | None = None
    """USD per million output tokens; null = the known-model table."""


@dataclass(frozen=True)
class GateConfig:
    min_accuracy: float = 0.75
    """The teacher must reach this execution accuracy on the teacher-validation split."""


@dataclass(frozen=True)
class GenerationMix:
    """Share of candidate examples per generation kind; normalized, so only ratios matter."""

    novel: float = 0.3
    paraphrase: float = 0.25
    complexity: float = 0.15
    schema_substitution: float = 0.05
    direct: float = 0.25


@dataclass(frozen=True)
class SelfConsistencyConfig:
    """The vote for candidates that come without a proposed answer (the `direct` kind)."""

    samples: int = 3
    """Teacher answers drawn per candidate question; the execution-majority wins."""
    temperature: float = 0.7


@dataclass(frozen=True)
class VerifyConfig:
    """Verification by agreement, for candidates that come with a proposed answer."""

    samples: int = 1
    """Independent teacher answers per candidate; it is kept only when every one of them gives the
    proposal's result (grading's equality rule)."""
    temperature: float = 0.0
    """0 = greedy (then samples > 1 would repeat one answer); sample i is seeded with i."""


@dataclass(frozen=True)
class GenerateConfig:
    target_examples: int = 50
    """Candidate questions to propose (before self-consistency and validation filter them)."""
    mix: GenerationMix = field(default_factory=GenerationMix)
    per_call: int = 5
    """Candidates asked for in one proposal call."""
    temperature: float = 0.9
    """Sampling temperature for proposal calls."""
    max_new_tokens: int = 800
    """Cap for proposal calls (answers use evaluate.max_new_tokens)."""
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    self_consistency: SelfConsistencyConfig = field(default_factory=SelfConsistencyConfig)
    seed: int = 0
    dry_run: bool = False
    """Estimate calls, tokens and USD, and call nothing."""


@dataclass(frozen=True)
class ValidateConfig:
    val_fraction: float = 0.1
    """Share of the validated pairs held out as the training-time val split."""
    seed: int = 0
    near_duplicate_similarity: float = 0.9
    """Questions at least this similar (difflib ratio, normalized text) count as duplicates."""
    leakage_similarity: float = 0.9
    """A training question or output this similar to a test one is leakage."""


@dataclass(frozen=True)
class LoraConfig:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"
    """peft target modules: `all-linear`, or a comma-separated list such as `q_proj,v_proj`."""


@dataclass(frozen=True)
class KDConfig:
    alpha: float = 0.5
    """Weight of the soft-label KL term; 1 - alpha weights the cross-entropy on the teacher's text."""
    temperature: float = 2.0
    """Softens both distributions; the KL term is scaled by temperature**2."""
    top_k: int = 20
    """Teacher logprobs kept per completion token (plus one bucket for the remaining mass)."""
    fallback_to_sft: bool = False
    """When the teacher cannot give soft labels (an API teacher, or a different tokenizer), train
    with SFT instead of stopping with an error."""


TRAIN_METHODS = ("lora", "full")
QUANTIZATIONS = ("q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0")
"""GGUF types `export.quantizations` may name (llama.cpp's LLAMA_FTYPE_MOSTLY_<NAME>)."""
TRAIN_LOSSES = ("auto", "sft", "kd")
TRAIN_PACKINGS = ("shared_prefix", "none")


@dataclass(frozen=True)
class TrainConfig:
    method: str = "lora"
    """lora (peft adapter) or full (all weights)."""
    loss: str = "auto"
    """sft (cross-entropy on the completion), kd (soft labels from the teacher_logits stage), or auto:
    kd when the teacher can give soft labels on the student's tokenizer, sft otherwise (an API
    teacher, another tokenizer); metrics/train.json records which ran and why."""
    lr: float = 5e-4
    epochs: float = 3.0
    batch_size: int = 8
    grad_accum: int = 1
    packing: str = "shared_prefix"
    """shared_prefix: each batch is one row holding the sequences' common opening once (exact:
    distill/training/packing.py); none: right-padded rows."""
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_length: int = 2048
    """Tokens per prompt+completion; a longer training sequence is an error, since truncation
    would cut the answer."""
    scheduler: str = "cosine"
    bf16: bool = False
    """bf16 autocast; only where the CPU supports it (checked at start)."""
    seed: int = 0
    threads: int = 2
    max_examples: int = 0
    """Train on at most this many validated pairs (a seeded sample, file order kept); 0 = all. For
    data-size ablations: the soft labels are computed once for all pairs."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    kd: KDConfig = field(default_factory=KDConfig)


@dataclass(frozen=True)
class StudentConfig:
    model: str = "qwen2.5-coder-0.5b-instruct"
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
    samples: int = 1
    """Answers per question; 1 = one greedy answer (pass@1 is then plain accuracy)."""
    temperature: float = 0.8
    """Sampling temperature when samples > 1."""
    pass_k: tuple[int, ...] = (1,)
    """The k of pass@k to report, each <= samples (unbiased estimator, as in the HumanEval paper)."""
    repair_turns: int = 1
    """Times an answer that cannot run (no SQL, an SQLite error; code that does not parse) goes back
    to the model with the error, found without the gold; 0 = the first answer is final."""
    repair_temperature: float = 0.7
    """Sampling temperature of a repair turn (seeded, so reproducible): greedy small models tend to
    repeat the failing answer word for word."""
    speed_questions: int = 8
    """Test questions answered one at a time, warm, to measure latency and tokens per second: the
    teacher (reference stage) and every exported GGUF (evaluate stage), on the same threads."""
    hf_check_questions: int = 8
    """The first N test questions the merged transformers fp32 student also answers, to show the
    merge and GGUF conversion lose nothing against the f16 GGUF; 0 = skip."""


@dataclass(frozen=True)
class ExportConfig:
    quantizations: tuple[str, ...] = ("q8_0", "q4_k_m")
    """GGUF quantizations written beside the f16 file (llama.cpp's quantizer)."""
    max_accuracy_drop: float = 0.02
    """A quantized GGUF losing more first-answer execution accuracy than this against the f16 GGUF
    is flagged."""
    n_ctx: int = 4096
    """Context window for the GGUF at evaluation, serving and in the Modelfile."""


@dataclass(frozen=True)
class Params:
    task: TaskConfig = field(default_factory=TaskConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


# Range checks that a type alone cannot express: key -> (predicate, what is expected).
_CHECKS = {
    "task.sql_timeout_s": (lambda v: v > 0, "a number > 0"),
    "task.sql_max_rows": (lambda v: v >= 1, "an integer >= 1"),
    "task.sql_max_result_mb": (lambda v: v > 0, "a number of MB > 0"),
    "task.sandbox.cpu_s": (lambda v: v >= 1, "an integer >= 1"),
    "task.sandbox.wall_s": (lambda v: v > 0, "a number > 0"),
    "task.sandbox.memory_mb": (lambda v: v >= 64, "an integer >= 64 (the interpreter needs some)"),
    "task.sandbox.max_processes": (lambda v: v >= 1, "an integer >= 1"),
    "task.sandbox.file_size_mb": (lambda v: v >= 1, "an integer >= 1"),
    "prepare.teacher_val_fraction": (lambda v: 0 < v < 1, "a number strictly between 0 and 1"),
    "teacher.provider": (lambda v: v in TEACHER_PROVIDERS, f"one of {', '.join(TEACHER_PROVIDERS)}"),
    "teacher.n_ctx": (lambda v: v >= 256, "an integer >= 256"),
    "teacher.threads": (lambda v: v >= 1, "an integer >= 1"),
    "teacher.concurrency": (lambda v: v >= 1, "an integer >= 1"),
    "teacher.timeout_s": (lambda v: v > 0, "a number > 0"),
    "teacher.max_retries": (lambda v: v >= 0, "an integer >= 0"),
    "teacher.budget_usd": (lambda v: v >= 0, "a number >= 0, or null for no cap"),
    "teacher.price_input_per_mtok": (lambda v: v >= 0, "a number >= 0, or null"),
    "teacher.price_output_per_mtok": (lambda v: v >= 0, "a number >= 0, or null"),
    "gate.min_accuracy": (lambda v: 0 <= v <= 1, "a number between 0 and 1"),
    "generate.target_examples": (lambda v: v >= 1, "an integer >= 1"),
    "generate.per_call": (lambda v: 1 <= v <= 20, "an integer from 1 to 20"),
    "generate.temperature": (lambda v: 0 <= v <= 2, "a number from 0 to 2"),
    "generate.max_new_tokens": (lambda v: v >= 16, "an integer >= 16"),
    "generate.verify.samples": (lambda v: v >= 1, "an integer >= 1"),
    "generate.verify.temperature": (lambda v: 0 <= v <= 2, "a number from 0 to 2"),
    "generate.self_consistency.samples": (lambda v: v >= 1, "an integer >= 1"),
    "generate.self_consistency.temperature": (lambda v: 0 <= v <= 2, "a number from 0 to 2"),
    **{f"generate.mix.{f.name}": (lambda v: v >= 0, "a share >= 0") for f in dataclasses.fields(GenerationMix)},
    "train.method": (lambda v: v in TRAIN_METHODS, f"one of {', '.join(TRAIN_METHODS)}"),
    "train.loss": (lambda v: v in TRAIN_LOSSES, f"one of {', '.join(TRAIN_LOSSES)}"),
    "train.packing": (lambda v: v in TRAIN_PACKINGS, f"one of {', '.join(TRAIN_PACKINGS)}"),
    "train.lr": (lambda v: 0 < v < 1, "a learning rate in (0, 1)"),
    "train.epochs": (lambda v: v > 0, "a number > 0"),
    "train.max_examples": (lambda v: v >= 0, "an integer >= 0; 0 trains on every validated pair"),
    "train.batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "train.grad_accum": (lambda v: v >= 1, "an integer >= 1"),
    "train.warmup_ratio": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "train.weight_decay": (lambda v: v >= 0, "a number >= 0"),
    "train.max_length": (lambda v: v >= 32, "an integer >= 32"),
    "train.scheduler": (
        lambda v: v in ("cosine", "linear", "constant", "constant_with_warmup"),
        "cosine, linear, constant or constant_with_warmup",
    ),
    "train.threads": (lambda v: v >= 1, "an integer >= 1"),
    "train.lora.r": (lambda v: v >= 1, "an integer >= 1"),
    "train.lora.alpha": (lambda v: v >= 1, "an integer >= 1"),
    "train.lora.dropout": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "train.kd.alpha": (lambda v: 0 <= v <= 1, "a number between 0 and 1"),
    "train.kd.temperature": (lambda v: v > 0, "a number > 0"),
    "train.kd.top_k": (lambda v: 1 <= v <= 100, "an integer from 1 to 100"),
    "validate.val_fraction": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "validate.near_duplicate_similarity": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "validate.leakage_similarity": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "evaluate.limit": (lambda v: v >= 0, "an integer >= 0 (0 = all)"),
    "evaluate.batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "evaluate.max_new_tokens": (lambda v: v >= 1, "an integer >= 1"),
    "evaluate.threads": (lambda v: v >= 1, "an integer >= 1"),
    "evaluate.samples": (lambda v: v >= 1, "an integer >= 1"),
    "evaluate.temperature": (lambda v: 0 < v <= 2, "a number in (0, 2]"),
    "evaluate.pass_k": (lambda v: len(v) >= 1 and all(k >= 1 for k in v), "a non-empty list of integers >= 1"),
    "evaluate.repair_turns": (lambda v: v >= 0, "an integer >= 0; 0 turns repair off"),
    "evaluate.repair_temperature": (lambda v: 0 <= v <= 2, "a number from 0 to 2; 0 = greedy"),
    "evaluate.speed_questions": (lambda v: v >= 1, "an integer >= 1"),
    "evaluate.hf_check_questions": (lambda v: v >= 0, "an integer >= 0 (0 = skip the transformers check)"),
    "export.quantizations": (
        lambda v: len(v) == len(set(v)) and set(v) <= set(QUANTIZATIONS),
        f"a list of distinct names from {', '.join(QUANTIZATIONS)}",
    ),
    "export.max_accuracy_drop": (lambda v: 0 <= v <= 1, "a number between 0 and 1 (0.02 = 2 points)"),
    "export.n_ctx": (lambda v: v >= 256, "an integer >= 256"),
}


_MOVED = {"export.speed_questions": "evaluate.speed_questions"}
"""Keys an older params.yaml may still hold → where they live now."""


def _coerce(value, typ, key: str, where: str):
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(typ)
        if value is None and type(None) in args:
            return None
        (typ,) = [a for a in args if a is not type(None)]
    if dataclasses.is_dataclass(typ):
        return _build(typ, value, key, where)
    if typing.get_origin(typ) is tuple:  # a YAML list of one item type: tuple[T, ...]
        (item,) = [a for a in typing.get_args(typ) if a is not Ellipsis]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key}: expected a list, got {value!r}")
        return tuple(_coerce(v, item, f"{key}[{i}]", where) for i, v in enumerate(value))
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
        if key in _MOVED:
            raise ConfigError(f"{where}: {key} moved to {_MOVED[key]}; rename it there")
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
    if not path.is_file():
        raise ConfigError(f"{path}: not found; run from the repository root")
    try:
        text = read_text(path)
    except DataError as e:
        raise ConfigError(str(e)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(e, 'problem', None) or e}".replace("\n", " ")) from None
    params = _build(Params, data, "", str(path))
    teacher = params.teacher
    if teacher.provider == "replay" and teacher.replay_of not in CALLING_PROVIDERS:
        raise ConfigError(
            f"{path}: teacher.replay_of: teacher.provider: replay needs the provider that wrote the cache, "
            f"one of {', '.join(CALLING_PROVIDERS)}; got {teacher.replay_of!r}"
        )
    evaluate = params.evaluate
    if max(evaluate.pass_k) > evaluate.samples:
        raise ConfigError(
            f"{path}: evaluate.pass_k: pass@{max(evaluate.pass_k)} needs at least that many answers per question; "
            f"raise evaluate.samples (now {evaluate.samples})"
        )
    if sum(dataclasses.asdict(params.generate.mix).values()) <= 0:
        raise ConfigError(f"{path}: generate.mix: at least one kind needs a share > 0")
    return params
