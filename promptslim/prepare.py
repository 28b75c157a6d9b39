"""Everything between the command line and the first model call: load, validate, resolve models, plan the spend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from promptslim import paths
from promptslim.config import Config, load_config
from promptslim.errors import BudgetStop, InputError
from promptslim.evalset import EvalSet, evalset_for, load_evalset
from promptslim.evaluate import Evaluator
from promptslim.judge import Judge
from promptslim.prices import Price, price_for, usd_text
from promptslim.session import NONE, Models, make_runner, resolve_models
from promptslim.template import Template, load_template

OUTPUT_ESTIMATE = 200  # tokens per answer assumed by the plan (the real figure comes from the answers)
JUDGE_OVERHEAD = 450  # GEval prompt around the case, in tokens
JUDGE_OUTPUT = 120


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
    config: Config
    template: Template
    evalset: EvalSet
    models: Models
    evaluator: Evaluator


def resolve_template(path: str, root: Path) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = Path.cwd() / candidate
    if not candidate.exists() and (root / path).exists():
        candidate = root / path
    if not paths.is_prompt(candidate.name):
        raise InputError(paths.not_a_prompt(path))
    return candidate


def prepare(template_path: str, *, model: str | None, judge_model: str | None, repeats: int | None,
            calls_per_month: int | None, max_cost: float | None, use_cache: bool, command: str,
            root: Path | None = None, batch: bool = False) -> Prepared:
    """Validate everything (config, template, eval set, every case renders) before any call."""
    config = load_config(root)
    path = resolve_template(template_path, config.root)
    template = load_template(path, config.root)
    evalset_path = evalset_for(template.rel, config.root)
    if evalset_path is None:
        stem = Path(template.rel).with_suffix("")
        stem = Path(*stem.parts[1:]) if stem.parts and stem.parts[0] == "prompts" else stem
        raise InputError(f"{template.rel}: no eval set — create evalsets/{stem.as_posix()}.yaml (see README: eval set format)")
    prompt = config.prompt(template.name)
    evalset = load_evalset(evalset_path, config.root, prompt.criteria, prompt.threshold)
    validate_cases(template, evalset)
    models = resolve_models(config, model, judge_model)
    if models.judge_model != NONE and not evalset.criteria:
        models = Models(models.model, NONE, models.price_model, models.notices)
    price = price_for(models.price_model, config)
    runner = make_runner(config, models, budget_usd=config.max_cost_usd if max_cost is None else max_cost,
                         use_cache=use_cache, command=command, batch=batch)
    judge = None
    if models.judge_model != NONE:
        judge = Judge(runner, models.judge_model, evalset.criteria or "", config.home, threshold=evalset.threshold,
                      steps=evalset.steps, json_mode=models.judge_is_local, embedded=models.judge_is_local,
                      where=evalset.path)
    prompt = config.prompt(template.name)
    evaluator = Evaluator(template=template, evalset=evalset, runner=runner, models=models, config=config,
                          price=price, repeats=repeats or config.repeats,
                          calls_per_month=prompt.calls_per_month if calls_per_month is None else calls_per_month,
                          judge=judge)
    return Prepared(config, template, evalset, models, evaluator)


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


def plan(prepared: Prepared, sources: list[str], budget: float) -> Plan:
    """Calls, tokens and dollars for these variants, counting exact input tokens and skipping cached calls."""
    from promptslim.llm.batch import batch_backends, list_price

    ev = prepared.evaluator
    judge_on = prepared.models.judge_model != NONE
    roles = ev.runner.roles
    total = cached = input_tokens = 0
    usd = usd_list = 0.0
    answer = min(OUTPUT_ESTIMATE, ev.params(0).max_tokens or OUTPUT_ESTIMATE)
    unique = list(dict.fromkeys(sources))
    for source in unique:
        pending = ev.pending_calls(source)
        calls = len(prepared.evalset.cases) * ev.repeats
        total += calls
        cached += calls - pending
        share = pending / calls if calls else 0
        tokens = sum(ev.input_tokens(source)) * ev.repeats
        input_tokens += int(tokens * share)
        usd += _cost(roles["target"].price, roles["judge"].price if judge_on else None, tokens * share, pending,
                     answer)
        usd_list += _cost(list_price(roles["target"]), list_price(roles["judge"]) if judge_on else None,
                          tokens * share, pending, answer)
    pending_total = total - cached
    return Plan(variants=len(unique), cases=len(prepared.evalset.cases), repeats=ev.repeats, target_calls=total,
                cached_calls=cached, judge_calls=pending_total if judge_on else 0, input_tokens=input_tokens,
                output_tokens=answer * pending_total, usd=usd, budget=budget,
                usd_list=usd_list if batch_backends(ev.runner) else None)


def _cost(target: Price, judge: Price | None, tokens: float, pending: int, answer: int) -> float:
    """Estimated $ of a variant's pending target calls (`tokens` their input) and their judge calls."""
    usd = target.cost(tokens, answer * pending)
    if judge is not None:
        usd += judge.cost((tokens / max(pending, 1) + JUDGE_OVERHEAD + answer) * pending, JUDGE_OUTPUT * pending)
    return usd


async def within_budget(usd: float, budget: float, yes: bool) -> None:
    """Refuse to start when the estimate exceeds the budget, unless told to go ahead (the hard stop still holds)."""
    if usd > budget and not yes:
        raise BudgetStop(f"estimated {usd_text(usd)} exceeds the budget {usd_text(budget)} (max_cost_usd) — rerun with --yes "
                         "to start anyway (the run still stops at the budget), or raise --max-cost")
