"""Resolve which models run where and build the runner: the set-up every engine command shares."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

from promptslim.config import Config, Endpoint, ensure_home
from promptslim.errors import InputError
from promptslim.llm.openai_backend import OpenAIBackend
from promptslim.llm.retry import RetryPolicy
from promptslim.llm.runner import Role, Runner
from promptslim.llm.store import Store
from promptslim.prices import LOCAL, price_for

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_JUDGE = "gpt-4o"
NONE = "none"


@dataclass(frozen=True)
class Models:
    """Who answers, who judges, and whose prices the monthly figures use."""

    model: str
    judge_model: str  # "none" = assertions only
    price_model: str
    notices: tuple[str, ...] = field(default_factory=tuple)

    @property
    def local(self) -> bool:
        return self.model == LOCAL

    @property
    def judge_is_local(self) -> bool:
        return self.judge_model == LOCAL


def endpoint_configured(config: Config) -> bool:
    """True when some real endpoint is set up: a key, a base URL, or a config base_url."""
    return bool(os.environ.get(config.target.api_key_env) or os.environ.get("OPENAI_BASE_URL")
                or config.target.base_url)


def resolve_models(config: Config, model: str | None, judge_model: str | None) -> Models:
    """Flags win; with no endpoint configured the embedded local model stands in (and says so)."""
    notices: list[str] = []
    configured = endpoint_configured(config)
    if model:
        chosen = model
    elif configured:
        chosen = config.model or DEFAULT_MODEL
    else:
        chosen = LOCAL
        if config.model:
            notices.append(f"no endpoint configured (OPENAI_API_KEY / OPENAI_BASE_URL), so the embedded local model "
                           f"runs instead of '{config.model}'; $ figures are projected at {config.model}'s prices")
    if judge_model:
        judge = judge_model
    elif chosen == LOCAL and not configured:
        judge = NONE
        notices.append("judge: none (assertions only) — the embedded model is too small to judge; "
                       "pass --judge-model local to try it anyway")
    else:
        judge = config.judge_model or DEFAULT_JUDGE
    price_model = chosen if chosen != LOCAL else (config.model or DEFAULT_MODEL)
    return Models(chosen, judge, price_model, tuple(notices))


def _backend(model: str, endpoint: Endpoint, config: Config):
    if model == LOCAL:
        from promptslim.llm.local import LocalBackend

        return LocalBackend()
    base_url = endpoint.base_url or os.environ.get("OPENAI_BASE_URL")
    api_key = os.environ.get(endpoint.api_key_env)
    if not api_key and not base_url:
        raise InputError(f"model '{model}' needs an endpoint: set ${endpoint.api_key_env} (and OPENAI_BASE_URL for "
                         "a non-OpenAI server), or use --model local")
    return OpenAIBackend(base_url, api_key, config.timeout, endpoint.api_key_env)


def make_runner(config: Config, models: Models, *, budget_usd: float | None, use_cache: bool = True,
                command: str = "", batch: bool = False) -> Runner:
    """The runner with target (and judge) roles, the cache/ledger store, and the run's budget; with `batch`,
    every role's calls go through the provider's Batch API at its batch price."""
    if batch and (models.local or models.judge_is_local):  # before any backend is built
        who = "--model" if models.local else "--judge-model"
        raise InputError(f"--batch: the embedded local model ({who} local) has no Batch API — run without --batch, "
                         f"or pass {who} with an API model")
    roles = {"target": Role(_backend(models.model, config.target, config), price_for(models.model, config))}
    if models.judge_model != NONE:
        roles["judge"] = Role(_backend(models.judge_model, config.judge, config), price_for(models.judge_model, config))
    store = Store(ensure_home(config.home) / "cache.sqlite")
    run_id = uuid.uuid4().hex[:12]
    if batch:
        from promptslim.llm.batch import batched

        batched(roles, store, run_id)
    runner = Runner(roles=roles, store=store, budget_usd=budget_usd, concurrency=config.concurrency,
                    retry=RetryPolicy.from_env(config.max_retries), use_cache=use_cache, run_id=run_id)
    store.start_run(runner.run_id, command)
    return runner


def run_notices(models: Models) -> list[str]:
    """What a run says once on stderr before it starts: model substitutions, and the local model's caveat."""
    lines = [f"promptslim: {note}" for note in models.notices]
    if models.local or models.judge_is_local:
        from promptslim.llm.local import notice

        lines.append(notice())
    return lines
