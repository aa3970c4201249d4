"""Teachers: one protocol (`base.Teacher`), four providers, and one client that adds the cache,
the cost ledger, concurrency and retries for all of them."""

from __future__ import annotations

from pathlib import Path

from distill.config import TeacherConfig
from distill.errors import ConfigError
from distill.models import ModelError, resolve_gguf, resolve_hf
from distill.teachers.base import Teacher, TeacherError, TeacherRequest, TeacherResponse
from distill.teachers.cache import TeacherCache
from distill.teachers.client import CallResult, TeacherClient
from distill.teachers.ledger import CostLedger, resolve_prices


class NoCallTeacher:
    """Stands in for the configured provider where nothing may be called (a dry run): cache keys
    and prices are the real provider's, but no model is loaded and no key is needed."""

    max_concurrency = None

    def __init__(self, provider: str, model: str):
        self.provider = provider
        self.model = model

    async def complete(self, request: TeacherRequest) -> TeacherResponse:
        raise TeacherError("dry run: no teacher calls are made")

    async def aclose(self) -> None:
        return None


def make_teacher(config: TeacherConfig) -> Teacher:
    """The provider named by `teacher.provider`, ready to call. Errors name the param."""
    from distill.teachers import providers

    if config.provider == "llamacpp":
        from distill.inference.llamacpp import MAX_SEQUENCES

        if config.concurrency >= MAX_SEQUENCES:
            raise ConfigError(
                f"params.yaml: teacher.concurrency: the llamacpp teacher decodes at most {MAX_SEQUENCES - 1} "
                f"sequences per step (llama.cpp's sequence limit), got {config.concurrency}"
            )
    try:
        if config.provider == "llamacpp":
            return providers.LlamaCppTeacher(
                config.model, resolve_gguf(config.model), config.n_ctx, config.threads, slots=config.concurrency
            )
        if config.provider == "hf":
            return providers.HFTeacher(config.model, resolve_hf(config.model), config.threads)
        if config.provider == "openai":
            return providers.OpenAITeacher(
                config.model, config.base_url, config.api_key_env, config.timeout_s, config.max_retries
            )
        if config.provider == "replay":
            return providers.ReplayTeacher(config.replay_of, config.model)
        if config.provider == "anthropic":
            return providers.AnthropicTeacher(
                config.model, config.base_url, config.api_key_env, config.timeout_s, config.max_retries
            )
    except ModelError as e:
        raise ModelError(f"params.yaml: teacher.model: {e}") from None
    raise ModelError(f"params.yaml: teacher.provider: unknown provider {config.provider!r}")


def make_ledger(config: TeacherConfig) -> CostLedger:
    try:
        prices = resolve_prices(
            config.provider, config.model, config.price_input_per_mtok, config.price_output_per_mtok
        )
    except ValueError as e:
        raise ModelError(f"params.yaml: {e}") from None
    return CostLedger(*prices, budget_usd=config.budget_usd)


def make_client(
    config: TeacherConfig, cache_dir: str | Path, progress: bool = True, dry_run: bool = False
) -> TeacherClient:
    """The configured teacher behind the cache in `cache_dir`, the ledger and the retry policy.
    With `dry_run`, nothing is loaded and nothing can be called: only estimates work."""
    ledger = make_ledger(config)  # fail on a missing price before loading a model
    teacher = NoCallTeacher(config.provider, config.model) if dry_run else make_teacher(config)
    return TeacherClient(
        teacher,
        TeacherCache(cache_dir),
        ledger,
        concurrency=config.concurrency,
        max_retries=config.max_retries,
        progress=progress,
    )


__all__ = [
    "CallResult",
    "CostLedger",
    "Teacher",
    "TeacherCache",
    "TeacherClient",
    "TeacherError",
    "TeacherRequest",
    "TeacherResponse",
    "make_client",
    "make_teacher",
]
