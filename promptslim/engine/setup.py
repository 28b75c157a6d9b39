"""The one run set-up every command shares: load and validate (config, template, eval set, every case renders),
resolve the models, build the runner, judge and evaluator, plan the variants, and run the engine's coroutine once
the plan is approved (a plan over budget starts only when the caller's events say so)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence, TypeVar

from promptslim import paths
from promptslim.config import CONFIG_FILE, Config, Endpoint, TemplateSettings, ensure_home, load_config
from promptslim.cost.plan import Plan, plan_variants
from promptslim.cost.prices import LOCAL, price_for
from promptslim.engine.events import BatchProgress, Events, Notice, OverBudget, Spent, silent
from promptslim.engine.evaluator import NONE, Evaluator, Models
from promptslim.engine.requests import RunRequest
from promptslim.errors import InputError
from promptslim.evalset import EvalSet, evalset_for, load_evalset
from promptslim.llm.batch import batch_backends
from promptslim.llm.openai_backend import OpenAIBackend
from promptslim.llm.retry import RetryPolicy
from promptslim.llm.runner import Role, Runner, candidate_role
from promptslim.llm.served import LOOKUP_TIMEOUT
from promptslim.llm.store import Store
from promptslim.template.load import Template, load_template

if TYPE_CHECKING:
    from promptslim.judge import Judge

T = TypeVar("T")
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_JUDGE = "gpt-4o"


def endpoint_configured(config: Config) -> bool:
    """True when some real endpoint is set up: a key, a base URL, or a config base_url."""
    return bool(os.environ.get(config.target.api_key_env) or os.environ.get("OPENAI_BASE_URL")
                or config.target.base_url)


def resolve_models(config: Config, model: str | None, judge_model: str | None, *,
                   ask_endpoint: bool = True) -> Models:
    """Flags win; with no endpoint configured the embedded local model stands in (and says so); on a custom base URL
    without --model, the model the endpoint serves (`ask_endpoint`: one GET /v1/models; never for a static run)."""
    notices: list[str] = []
    configured = endpoint_configured(config)
    if model:
        chosen = model
    elif configured:
        chosen = config.model or DEFAULT_MODEL
        if ask_endpoint:
            chosen, notice = _served(config, chosen)
            notices += [notice] if notice else []
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


def _served(config: Config, configured: str) -> tuple[str, str | None]:
    """The model a custom base URL serves when it is not the configured one (llama.cpp answers any name)."""
    base_url = config.target.base_url or os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        return configured, None
    from promptslim.llm.served import choose, served_models

    key = os.environ.get(config.target.api_key_env) if config.target.api_key_env else None
    where = f"model in {config.source or CONFIG_FILE}" if config.model else "the default model"
    choice = choose(configured, where, served_models(base_url, key, min(config.timeout, LOOKUP_TIMEOUT)), base_url)
    return choice.model, choice.notice


def _backend(model: str, endpoint: Endpoint, config: Config):  # noqa: ANN202 - a Backend
    if model == LOCAL:
        from promptslim.llm.local import LocalBackend

        return LocalBackend()
    base_url = endpoint.base_url or os.environ.get("OPENAI_BASE_URL")
    api_key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
    if not api_key and not base_url:
        raise InputError(f"model '{model}' needs an endpoint: set ${endpoint.api_key_env} (and OPENAI_BASE_URL for "
                         "a non-OpenAI server), or use --model local")
    return OpenAIBackend(base_url, api_key, config.timeout, endpoint.api_key_env)


def make_role(model: str, config: Config, *, self_hosted_free: bool = True) -> Role:
    """A model on its own endpoint ([models."name"], else the model under test's), billed at its own price."""
    price = price_for(model, config, self_hosted_free=self_hosted_free)  # refused before any backend loads
    return Role(_backend(model, config.endpoint_of(model), config), price)


def make_store(config: Config) -> Store:
    return Store(ensure_home(config.home) / "cache.sqlite")


def make_runner(config: Config, models: Models, *, budget_usd: float | None, use_cache: bool = True,
                command: str = "", batch: bool = False, candidates: Sequence[str] = ()) -> Runner:
    """The runner with target (and judge) roles, one role per candidate model, the cache/ledger store, and the
    run's budget; with `batch`, every role's calls go through the provider's Batch API at its batch price."""
    if batch and (models.local or models.judge_is_local):  # before any backend is built
        who = "--model" if models.local else "--judge-model"
        raise InputError(f"--batch: the embedded local model ({who} local) has no Batch API — run without --batch, "
                         f"or pass {who} with an API model")
    roles = {"target": Role(_backend(models.model, config.target, config), price_for(models.model, config))}
    if models.judge_model != NONE:
        roles["judge"] = Role(_backend(models.judge_model, config.judge, config), price_for(models.judge_model, config))
    for name in candidates:
        roles[candidate_role(name)] = make_role(name, config, self_hosted_free=False)
    store = make_store(config)
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


@dataclass
class Prepared:
    """A validated run: config, template, eval set, models, the evaluator bound to its runner and judge, the
    budget left for the target calls, and the caller's events."""

    config: Config
    template: Template
    evalset: EvalSet
    models: Models
    evaluator: Evaluator
    budget: float = 0.0
    events: Events = silent

    @property
    def runner(self) -> Runner:
        return self.evaluator.runner

    def spend(self, usd: float) -> None:
        """Money spent before the plan (the rewriter's proposals) comes off the budget the plan is checked against."""
        self.budget = max(self.budget - usd, 0.0)
        self.runner.budget_usd = self.budget

    def notices(self) -> list[str]:
        """What the run says once before it starts: the template's warnings, substituted models, the local caveat."""
        return [f"warning: {w}" for w in self.template.warnings] + run_notices(self.models)

    @property
    def settings(self) -> TemplateSettings:
        """The template's effective margin, answer cap and traffic, with where each came from."""
        assert self.evaluator.settings is not None
        return self.evaluator.settings

    def plan(self, variants: Sequence) -> Plan:
        """What running these variants (promptslim/engine/trial.py Variant) over the eval set will cost."""
        return plan_variants(self.evaluator, variants, self.budget)


def resolve_template(path: str, root: Path) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = Path.cwd() / candidate
    if not candidate.exists() and (root / path).exists():
        candidate = root / path
    if not paths.is_prompt(candidate.name):
        raise InputError(paths.not_a_prompt(path))
    refusal = paths.outside_prompts(path, candidate, root)
    if refusal:
        raise InputError(refusal)
    return candidate


def prepare(request: RunRequest, *, candidates: Sequence[str] = (), events: Events = silent) -> Prepared:
    """Validate everything (config, template, eval set, every case renders) before any call; `candidates` are the
    models a strategy sends variants to (each gets its own runner role: endpoint and price)."""
    r = request
    config = load_config(r.root)
    path = resolve_template(r.template, config.root)
    template = load_template(path, config.root)
    evalset_path = evalset_for(template.rel, config.root)
    if evalset_path is None:
        raise InputError(f"{template.rel}: no eval set — create {paths.evalset_rel(template.rel)} "
                         "(see README: eval set format)")
    prompt = config.prompt(template.name)
    evalset = load_evalset(evalset_path, config.root, prompt.criteria, prompt.threshold)
    validate_cases(template, evalset)
    models = resolve_models(config, r.model, r.judge_model)
    if models.judge_model != NONE and not evalset.criteria:
        models = Models(models.model, NONE, models.price_model, models.notices)
    budget = config.max_cost_usd if r.max_cost is None else r.max_cost
    runner = make_runner(config, models, budget_usd=budget, use_cache=r.use_cache, command=r.command, batch=r.batch,
                         candidates=list(dict.fromkeys(candidates)))
    judge = make_judge(runner, models, evalset, config)
    evaluator = make_evaluator(template, evalset, runner, models, config, judge, repeats=r.repeats or config.repeats,
                               calls_per_month=r.calls_per_month, margin=r.margin)
    return Prepared(config, template, evalset, models, evaluator, budget, events)


def validate_cases(template: Template, evalset: EvalSet) -> None:
    """Every case renders before any call; a case the template needs an input for names its own line."""
    for case in evalset.cases:
        try:
            template.render(case.vars, case.input, case.where(evalset.path))
        except InputError as exc:
            if case.input is None and ("no user message" in exc.message or "'input'" in exc.message):
                raise InputError(f"{evalset.path}:{case.line}: case '{case.id}' has no 'input', which "
                                 f"{template.rel} needs (it renders no user message of its own)") from None
            raise


def make_judge(runner: Runner, models: Models, evalset: EvalSet, config: Config) -> "Judge | None":
    """The LLM judge for an eval set's criteria, or None when grading is by assertions alone."""
    if models.judge_model == NONE or not evalset.criteria:
        return None
    from promptslim.judge import Judge

    return Judge(runner, models.judge_model, evalset.criteria or "", config.home, threshold=evalset.threshold,
                 steps=evalset.steps, json_mode=models.judge_is_local, embedded=models.judge_is_local,
                 where=evalset.path)


def make_evaluator(template: Template, evalset: EvalSet, runner: Runner, models: Models, config: Config,
                   judge: "Judge | None", *, repeats: int, calls_per_month: int | None = None,
                   margin: float | None = None) -> Evaluator:
    """An evaluator of this template's variants, priced at the price model's prices, with the template's settings
    resolved once (flags first)."""
    settings = config.settings(template.name, margin=margin, calls_per_month=calls_per_month, local=models.local)
    return Evaluator(template=template, evalset=evalset, runner=runner, models=models, config=config,
                     price=price_for(models.price_model, config), repeats=repeats,
                     calls_per_month=settings.calls_per_month.value, judge=judge, settings=settings)


def execute(runner: Runner, plan: Plan, events: Events, start: Callable[[], Awaitable[T]], *, yes: bool = False) -> T:
    """Refuse a plan over budget unless the request said yes or the caller approves it (OverBudget answered True),
    else run the engine's coroutine on the runner, its spend and any batch's progress reported as events."""
    runner.listeners.append(lambda _call: events(Spent(runner.api_calls, runner.cache_hits, runner.spent)))
    for backend in batch_backends(runner):
        backend.listeners.append(lambda status: events(BatchProgress(status)))

    async def approved() -> T:
        if plan.over_budget and not yes and events(OverBudget(plan)) is not True:
            raise plan.refusal()
        return await start()

    return runner.run(approved())


def notify(prepared: Prepared) -> None:
    """Say the run's notices once, before anything else it says."""
    for line in prepared.notices():
        prepared.events(Notice(line))
