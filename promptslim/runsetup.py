"""The one run set-up eval, ablate and check share: load and validate, resolve models, build the runner, judge
and evaluator, plan a strategy's variants (calls, tokens, $), and refuse a plan over budget."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence, TypeVar

from promptslim import limits, paths
from promptslim.config import Config, Endpoint, ensure_home, load_config
from promptslim.errors import BudgetStop, InputError
from promptslim.evalset import EvalSet, evalset_for, load_evalset
from promptslim.llm.openai_backend import OpenAIBackend
from promptslim.llm.retry import RetryPolicy
from promptslim.llm.runner import Role, Runner
from promptslim.llm.store import Store
from promptslim.prices import LOCAL, Price, price_for, usd_text
from promptslim.template import Template, load_template

if TYPE_CHECKING:
    from promptslim.evaluate import Evaluator
    from promptslim.judge import Judge
    from promptslim.strategy import Variant

T = TypeVar("T")
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_JUDGE = "gpt-4o"
NONE = "none"
OUTPUT_ESTIMATE = 200  # tokens per answer assumed by the plan (the real figure comes from the answers)
JUDGE_OVERHEAD = 450  # GEval prompt around the case, in tokens
JUDGE_OUTPUT = 120


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
    api_key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
    if not api_key and not base_url:
        raise InputError(f"model '{model}' needs an endpoint: set ${endpoint.api_key_env} (and OPENAI_BASE_URL for "
                         "a non-OpenAI server), or use --model local")
    return OpenAIBackend(base_url, api_key, config.timeout, endpoint.api_key_env)


def candidate_role(model: str) -> str:
    """The runner role a candidate model's calls go through (its own endpoint, billed at its own price)."""
    return f"model:{model}"


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
        roles[candidate_role(name)] = Role(_backend(name, config.endpoint_of(name), config),
                                             price_for(name, config, self_hosted_free=False))
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


@dataclass(frozen=True)
class Plan:
    """What a run will cost before it starts; cached calls cost nothing."""

    variants: int
    cases: int
    repeats: int
    target_calls: int
    cached_calls: int
    judge_calls: int
    input_tokens: int
    output_tokens: int
    usd: float
    budget: float
    usd_list: float | None = None  # with --batch: the same calls at the online list price

    @property
    def batch_saving(self) -> float | None:
        return None if self.usd_list is None else self.usd_list - self.usd

    @property
    def over_budget(self) -> bool:
        return self.usd > self.budget


@dataclass
class Prepared:
    """A validated run: config, template, eval set, models, and the evaluator bound to its runner and judge."""

    config: Config
    template: Template
    evalset: EvalSet
    models: Models
    evaluator: "Evaluator"
    budget: float = 0.0

    def plan(self, variants: "Sequence[Variant]") -> Plan:
        """What running these variants over the eval set will cost."""
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


def prepare(template_path: str, *, model: str | None, judge_model: str | None, repeats: int | None,
            calls_per_month: int | None, max_cost: float | None, use_cache: bool, command: str,
            root: Path | None = None, batch: bool = False, candidates: Sequence[str] = ()) -> Prepared:
    """Validate everything (config, template, eval set, every case renders) before any call."""
    config = load_config(root)
    path = resolve_template(template_path, config.root)
    template = load_template(path, config.root)
    if command == "ablate":  # each unit is a variant of its own: bounded before any variant is built
        limits.check_units(len(template.candidates), template.rel)
    evalset_path = evalset_for(template.rel, config.root)
    if evalset_path is None:
        raise InputError(f"{template.rel}: no eval set — create {paths.evalset_rel(template.rel)} "
                         "(see README: eval set format)")
    prompt = config.prompt(template.name)
    evalset = load_evalset(evalset_path, config.root, prompt.criteria, prompt.threshold)
    validate_cases(template, evalset)
    models = resolve_models(config, model, judge_model)
    if models.judge_model != NONE and not evalset.criteria:
        models = Models(models.model, NONE, models.price_model, models.notices)
    budget = config.max_cost_usd if max_cost is None else max_cost
    runner = make_runner(config, models, budget_usd=budget, use_cache=use_cache, command=command, batch=batch,
                         candidates=candidates)
    judge = make_judge(runner, models, evalset, config)
    evaluator = make_evaluator(template, evalset, runner, models, config, judge, repeats=repeats or config.repeats,
                               calls_per_month=calls_per_month)
    return Prepared(config, template, evalset, models, evaluator, budget)


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
                   judge: "Judge | None", *, repeats: int, calls_per_month: int | None = None) -> "Evaluator":
    """An evaluator of this template's variants, priced at the price model's prices."""
    from promptslim.evaluate import Evaluator

    prompt = config.prompt(template.name)
    return Evaluator(template=template, evalset=evalset, runner=runner, models=models, config=config,
                     price=price_for(models.price_model, config), repeats=repeats,
                     calls_per_month=prompt.calls_per_month if calls_per_month is None else calls_per_month,
                     judge=judge)


def plan_variants(ev: "Evaluator", variants: "Sequence[Variant]", budget: float) -> Plan:
    """Calls, tokens and dollars for these variants, counting exact input tokens and skipping cached calls;
    each variant at its own model's price (with --batch, also what the same calls cost online)."""
    from promptslim.llm.batch import batch_backends, list_price

    roles = ev.runner.roles
    judge_on = ev.judge is not None
    judge_price = roles["judge"].price if judge_on else None
    judge_list = list_price(roles["judge"]) if judge_on else None
    cases = len(ev.evalset.cases)
    total = cached = input_tokens = 0
    usd = usd_list = 0.0
    answer = min(OUTPUT_ESTIMATE, ev.params(0).max_tokens or OUTPUT_ESTIMATE)
    unique = list(dict.fromkeys((v.source, v.model) for v in variants))
    for source, model in unique:
        target_price = roles["target"].price if model is None else ev.price_of(model)
        target_list = list_price(roles["target"]) if model is None else ev.price_of(model)
        if model is not None and candidate_role(model) in roles:
            target_price = target_list = roles[candidate_role(model)].price
        pending = ev.pending_calls(source, model)
        calls = cases * ev.repeats
        total += calls
        cached += calls - pending
        share = pending / calls if calls else 0
        tokens = sum(ev.input_tokens(source, model)) * ev.repeats
        input_tokens += int(tokens * share)
        usd += _cost(target_price, judge_price, tokens * share, pending, answer)
        usd_list += _cost(target_list, judge_list, tokens * share, pending, answer)
    pending_total = total - cached
    return Plan(variants=len(unique), cases=cases, repeats=ev.repeats, target_calls=total,
                cached_calls=cached, judge_calls=pending_total if judge_on else 0, input_tokens=input_tokens,
                output_tokens=answer * pending_total, usd=usd, budget=budget,
                usd_list=usd_list if batch_backends(ev.runner) else None)


def _cost(target: Price, judge: Price | None, tokens: float, pending: int, answer: int) -> float:
    """Estimated $ of a variant's pending target calls (`tokens` their input) and their judge calls."""
    usd = target.cost(tokens, answer * pending)
    if judge is not None:
        usd += judge.cost((tokens / max(pending, 1) + JUDGE_OVERHEAD + answer) * pending, JUDGE_OUTPUT * pending)
    return usd


def combine_plans(plans: Sequence[Plan], budget: float) -> Plan:
    """One plan over several evaluators (check: the sides of every changed template)."""
    return Plan(variants=sum(p.variants for p in plans), cases=sum(p.cases for p in plans),
                repeats=max((p.repeats for p in plans), default=1),
                target_calls=sum(p.target_calls for p in plans), cached_calls=sum(p.cached_calls for p in plans),
                judge_calls=sum(p.judge_calls for p in plans), input_tokens=sum(p.input_tokens for p in plans),
                output_tokens=sum(p.output_tokens for p in plans), usd=sum(p.usd for p in plans), budget=budget,
                usd_list=None if any(p.usd_list is None for p in plans) else sum(p.usd_list or 0.0 for p in plans))


def execute(runner: Runner, plan: Plan, yes: bool, start: "Callable[[], Awaitable[T]]") -> "T":
    """Refuse a plan over budget (unless told to go ahead), else run the engine's coroutine on the runner."""

    async def guarded() -> T:
        await within_budget(plan.usd, plan.budget, yes)
        return await start()

    return runner.run(guarded())


async def within_budget(usd: float, budget: float, yes: bool) -> None:
    """Refuse to start when the estimate exceeds the budget, unless told to go ahead (the hard stop still holds)."""
    if usd > budget and not yes:
        raise BudgetStop(f"estimated {usd_text(usd)} exceeds the budget {usd_text(budget)} (max_cost_usd) — rerun with --yes "
                         "to start anyway (the run still stops at the budget), or raise --max-cost")


def propose_rewrites(prepared: Prepared, rewriter_model: str | None, use_cache: bool = True):
    """Shorter wordings for the template's units: the rules always, the rewriter model when one is named (its
    calls through a runner of their own: cached, in the ledger, counted against this run's budget), each vetted
    (Jinja kept, shorter, renders every case) before any target call. Returns (kept, refused)."""
    from promptslim.rewrite import REWRITER, model_rewrites, rule_rewrites, vet
    from promptslim.tokens import count_text

    config, template, ev = prepared.config, prepared.template, prepared.evaluator
    proposals = rule_rewrites(template)
    model = rewriter_model or config.rewriter_model
    if model and model != NONE:
        role = Role(_backend(model, config.endpoint_of(model), config), price_for(model, config))
        store = Store(ensure_home(config.home) / "cache.sqlite")
        runner = Runner(roles={REWRITER: role}, store=store, budget_usd=prepared.budget, concurrency=config.concurrency,
                        retry=RetryPolicy.from_env(config.max_retries), use_cache=use_cache)
        store.start_run(runner.run_id, "ablate --rewrite (rewriter)")
        proposals += runner.run(model_rewrites(runner, model, template))
        prepared.budget = max(prepared.budget - runner.spent, 0.0)
        ev.runner.budget_usd = prepared.budget
    return vet(ev, template, proposals, lambda text: count_text(text, ev.models.price_model))
