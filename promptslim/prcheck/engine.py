"""The PR check: every prompt template changed since a base ref, base vs head — tokens, quality, dollars, gates.

Both sides are loaded and rendered first (sides.py: the base from git, both on the base revision's eval set),
then evaluated through one runner, so an unchanged side is a cache hit and a rerun of the same check costs
nothing. With --also-model the engine's cheaper-model strategy runs on the head's answers, a hint for the author
that never gates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from promptslim import paths
from promptslim.config import Config, PromptConfig, find_root, load_config
from promptslim.cost.caching import shared_prefix
from promptslim.cost.figure import NOT_INCLUDED, Output, cost_of, measured
from promptslim.cost.plan import Plan, combine_plans, plan_variants
from promptslim.cost.prices import Price, price_for
from promptslim.decide import check_outcome
from promptslim.engine.evaluator import NONE, Evaluator, Models, VariantResult
from promptslim.engine.events import Events, Notice, PlanMade, silent
from promptslim.engine.headroom import measure
from promptslim.engine.record import Record, price_facts, record, tokens_note
from promptslim.engine.run import run_strategies
from promptslim.engine.setup import execute, make_evaluator, make_judge, make_runner, resolve_models, run_notices
from promptslim.engine.strategies.cheaper_model import CheaperModel, check_candidates
from promptslim.engine.trial import Trial, Variant
from promptslim.errors import InputError
from promptslim.gitutil import show
from promptslim.llm.runner import Runner
from promptslim.numfmt import signed
from promptslim.paths import reports_dir
from promptslim.prcheck import changes, trust
from promptslim.prcheck.sides import Target, load, prompt_diff, review_notes
from promptslim.results import (AblateComparison, CaseScores, CheckResult, CheckRow, CheckRun, CheckSide, ConfigChange,
                                EvalsetChanges, Gates, HeadCases, Quality, UsdPerMtok)
from promptslim.results.headroom import Headroom
from promptslim.results.models import ModelsSection
from promptslim.results.readback import NO_ABLATION, Unreadable, read_ablation, static_output
from promptslim.template.load import Message, template_name
from promptslim.tokens import count_messages


@dataclass(frozen=True)
class CheckRequest:
    """What a check is asked: the base, which templates, the gates it adds, the models and the budget."""

    command: ClassVar[str] = "check"
    base: str | None = None  # git ref (default: merge base with origin/main, else main)
    templates: tuple[str, ...] = ()  # only these (default: every changed template)
    no_eval: bool = False  # static only: tokens, budgets, dollars; no API call
    allow_missing_evalset: bool = False
    fail_on_cost_increase: float | None = None  # percent
    model: str | None = None
    judge_model: str | None = None
    max_cost: float | None = None
    yes: bool = False  # start even when the plan is over budget (otherwise the events are asked)
    use_cache: bool = True
    require_noninferior: bool = False
    batch: bool = False  # the calls go through the provider's Batch API
    also_models: tuple[str, ...] = ()  # cheaper models to try the head on (a hint for the author, never a gate)


def check(request: CheckRequest, events: Events = silent, root: Path | None = None) -> CheckResult:
    """Compare changed templates at the base ref with the working tree; gates decide `failed`. Writes nothing."""
    o = request
    trust.refuse_linked_config(root or find_root())
    head_config = load_config(root)  # validated: a broken head config is still bad input
    root = head_config.root
    ref, sha = changes.resolve_base(root, o.base)
    config = trust.base_config(root, sha)  # the gate is the base's, never the pull request's own
    config_changes = trust.config_changes(config, head_config)
    trust.check_state(root, config.home)
    changed = changes.restrict(changes.discover(root, sha), list(o.templates), root)
    models = resolve_models(config, o.model, o.judge_model, ask_endpoint=not o.no_eval)  # --no-eval: no call
    if o.also_models:
        if o.no_eval:
            raise InputError("--also-model needs the eval run: drop --no-eval")
        check_candidates(list(o.also_models), models.model, option="check: --also-model")
    price = price_for(models.price_model, config)
    targets = [load(change, root, sha, config) for change in changed]
    review_notes(targets, config, head_config)
    rec = _evaluate(targets, config, models, price, o, events) if not o.no_eval and any(t.graded for t in targets) \
        else None
    run = CheckRun(calls=rec.calls, cache_hits=rec.cache_hits, usd=rec.usd, facts=rec.facts) if rec else None
    gates = Gates(margin=config.margin, fail_on_cost_increase=o.fail_on_cost_increase,
                  allow_missing_evalset=o.allow_missing_evalset, require_noninferior=o.require_noninferior)
    reports = [_base_ablation(t, root, sha) if t.base is not None else None for t in targets]
    outputs = [_base_output(t, rep, root) for t, rep in zip(targets, reports)]
    rows = [_row(t, price, models, gates, static, rep) for t, static, rep in zip(targets, outputs, reports)]
    skipped = list(dict.fromkeys(o.warning for o in outputs if o is not None and o.warning))
    sources = {side.tokens_source for r in rows for side in (r.base, r.head) if side}
    tokens_source = "estimated" if "estimated" in sources or not sources else (
        "server-reported" if "server-reported" in sources else "exact")
    return CheckResult(
        base=ref, base_sha=sha, no_eval=o.no_eval, model=models.model, judge_model=models.judge_model,
        local_model=_local_model_name() if models.local else None,
        price_model=models.price_model, price_source=price.source,
        prices=rec.prices if rec else price_facts(price, None), tokens_source=tokens_source,
        tokens_note=tokens_note(tokens_source, models.price_model, models.local),
        warnings=(rec.warnings if rec else []) + skipped,
        usd_per_mtok=UsdPerMtok(input=price.input, cached_input=price.cached_input, output=price.output),
        restricted_to=sorted(o.templates) if o.templates else None, gates=gates, templates=rows,
        failed=any(r.failed for r in rows), run=run,
        config_changes=[ConfigChange(**change) for change in config_changes])


# ---------------------------------------------------------------- evaluate (one runner, cached)
@dataclass(frozen=True)
class _Job:
    """One evaluation the check makes: a side of a target (or the head on the PR's new cases)."""

    target: Target
    slot: str  # the Target field its answers go to: base_result | head_result | new_cases_result
    ev: Evaluator
    source: str


def _jobs(targets: list[Target], config: Config, models: Models, runner: Runner, budget: float,
          also_models: tuple[str, ...]) -> tuple[list[_Job], list[Plan], list[Plan]]:
    """What to evaluate, its plans, and the plans of the head on this PR's new cases (information, counted in the
    plan and the budget, never the gate)."""
    jobs: list[_Job] = []
    plans: list[Plan] = []
    extra: list[Plan] = []
    for t in targets:
        if t.head is not None and t.head_cases is not None:
            judge = make_judge(runner, models, t.head_cases, config)
            ev = make_evaluator(t.head, t.head_cases, runner, models if judge else replace(models, judge_model=NONE),
                                config, judge, repeats=config.repeats)
            jobs.append(_Job(t, "new_cases_result", ev, t.head.source))
            extra.append(plan_variants(ev, [Variant("head_cases", t.head.source)], budget))
        if not t.evaluable:
            continue
        assert t.evalset is not None and t.head is not None
        judge = make_judge(runner, models, t.evalset, config)
        side_models = models if judge is not None else replace(models, judge_model=NONE)
        sides = [("head", t.head)] + ([("base", t.base)] if t.base is not None and t.base_msgs else [])
        for side, tpl in sides:
            ev = make_evaluator(tpl, t.evalset, runner, side_models, config, judge, repeats=config.repeats)
            jobs.append(_Job(t, f"{side}_result", ev, tpl.source))
            # an identical rendering (eval-set-only change) is answered once: plan it once
            if side == "head" or t.base_msgs != t.head_msgs:
                plans.append(plan_variants(ev, [Variant(side, tpl.source)], budget))
            if side == "head" and also_models:
                t.head_ev = ev
                plans += [plan_variants(ev, [v], budget) for v in _also(t, also_models).variants()]
    return jobs, plans, extra


def _also(t: Target, also_models: tuple[str, ...]) -> CheaperModel:
    assert t.head is not None
    return CheaperModel(also_models, option="check: --also-model", source=t.head.source)


def _evaluate(targets: list[Target], config: Config, models: Models, price: Price, o: CheckRequest,
              events: Events) -> Record:
    """Both sides of every evaluable template through the shared run set-up: one runner, one plan, one gate."""
    budget = config.max_cost_usd if o.max_cost is None else o.max_cost
    for line in run_notices(models):
        events(Notice(line))
    runner = make_runner(config, models, budget_usd=budget, use_cache=o.use_cache, command=o.command, batch=o.batch,
                         candidates=o.also_models)  # endpoints from the base config, as every gate setting
    jobs, plans, extra = _jobs(targets, config, models, runner, budget, o.also_models)
    plan = combine_plans(plans + extra, budget)
    events(PlanMade(plan, models.model, models.judge_model, templates=len({id(j.target) for j in jobs}),
                    reviewer_calls=sum(p.target_calls for p in extra)))

    async def start() -> None:
        answers = await runner.gather(job.ev.run(job.source) for job in jobs)
        for job, answer in zip(jobs, answers):
            setattr(job.target, job.slot, answer)
        also = [t for t in targets if t.head_result is not None and t.head_ev is not None]
        states = await runner.gather(run_strategies(Trial(t.head_ev, t.head_result, t.settings.margin.value),
                                                    [_also(t, o.also_models)]) for t in also)
        for t, state in zip(also, states):
            t.also = state.of(ModelsSection)

    execute(runner, plan, events, start, yes=o.yes)
    evaluators = list({id(job.ev): job.ev for job in jobs}.values())
    return record(runner, evaluators, models, price,
                  max_tokens=evaluators[0].params(0).max_tokens if evaluators else config.max_tokens)


def _local_model_name() -> str:
    """The embedded model's name, so check.md can say its verdicts come from a small local model."""
    from promptslim.llm.local import local_name

    return local_name()[0]


# ---------------------------------------------------------------- figures and gates
def _side(msgs: list[list[Message]] | None, result: VariantResult | None, price: Price, prompt: PromptConfig,
          models: Models, static: Output | None = None, room: Headroom | None = None) -> CheckSide | None:
    if msgs is None:
        return None
    s = result.summary if result is not None else None
    if s is not None and s.tokens_source != "estimated":
        tokens = [c.input_tokens for c in result.cases]  # exact, or what the endpoint reported (issue 17)
        source = s.tokens_source
    else:  # static: our count, an estimate where the model has no public tokenizer
        counted = [count_messages(m, models.price_model) for m in msgs]
        tokens = [c.tokens for c in counted]
        # with no answers (--no-eval) the price model's own tokenizer counts exactly, whoever would answer: the same
        # statement count makes; after a run on the embedded model, its answers' counts are estimates, as eval says
        source = "estimated" if (models.local and s is not None) or any(c.approximate for c in counted) else "exact"
    mean_in = sum(tokens) / len(tokens)
    out = s.output_tokens if s is not None else None
    output = measured(out) if out is not None else (static or Output(0.0, NOT_INCLUDED, "not included"))
    figure = cost_of(price, mean_in, output, prompt, prompt.calls_per_month, shared_prefix(msgs, models.price_model))
    return CheckSide(input_tokens=mean_in, input_tokens_max=max(tokens), input_tokens_per_case=tokens,
                     output_tokens=out, score=s.score.mean if s else None,
                     ci=list(s.score.ci) if s and s.score.ci else None, n=s.score.n if s else None,
                     pass_rate=s.pass_rate if s else None, usd_per_call=figure.usd_per_call,
                     usd_per_month=figure.usd_per_month, includes_output=s is not None,
                     tokens_source=source, answers=s.counts.answers if s else 0, truncated=s.counts.truncated if s else 0,
                     judge_errors=s.judge_errors if s else 0, output_basis=output.basis, output_note=output.note,
                     headroom=room)


def _room(t: Target, answers: VariantResult | None, models: Models, margin: float) -> Headroom | None:
    """A side's lead over a constant answer and its per-label pass rates (None: not evaluated, or judged)."""
    if answers is None or t.evalset is None:
        return None
    return measure(t.evalset, models.price_model, models.judge_model != NONE and bool(t.evalset.criteria), answers,
                   margin)


def _quality(base_res: VariantResult, head_res: VariantResult, margin: float) -> Quality:
    deltas = [h - b for h, b in zip(head_res.scores(), base_res.scores()) if h is not None and b is not None]
    q = check_outcome(deltas, margin)
    return Quality(outcome=q["outcome"], delta=q["delta"], ci=q["ci"], n=q["n"], sd=q["sd"],
                   min_detectable=q["min_detectable"],
                   regression=q["outcome"] in ("regression", "likely-regression"),
                   judge_errors={"base": sum(1 for x in base_res.scores() if x is None),
                                 "head": sum(1 for x in head_res.scores() if x is None)})


@dataclass(frozen=True)
class _BaseReport:
    """The latest ablation of a target's base text, as text, and whose it is."""

    name: str  # the base's template name: its ablation is filed under it (a renamed template's too)
    text: str | None
    whose: str
    warning: str | None = None  # it could not be read (a symlink in git): why, and it is left out


def _base_ablation(t: Target, root: Path, sha: str) -> _BaseReport:
    """The base revision's own ablation of the base text (from git), else this checkout's own untracked one
    (reports/ is git-ignored: a local `ablate` is the only place it lives).

    Never a report a commit put in the checkout: a pull request must not set the cost figure its own gate compares.
    A base report that cannot be believed (a symlink in git, a forged figure) is left out with a warning.
    """
    name = template_name(t.base_path) if t.base_path else t.name
    rel = f"{reports_dir(name)}/ablation.json"
    try:
        text = show(root, sha, rel)
    except InputError as exc:
        return _BaseReport(name, None, "the base's", f"{exc.message} — skipped")
    if text is not None:
        return _BaseReport(name, text, "the base's")
    return _BaseReport(name, trust.own_report(root, rel), "this checkout's own run, not in git")


def _base_output(t: Target, rep: _BaseReport | None, root: Path) -> Output | None:
    """Static output tokens for both sides: what the latest ablation of the base text measured."""
    if t.base is None or rep is None:
        return None
    if rep.warning:
        return Output(0.0, NOT_INCLUDED, "not included (its ablation.json was skipped)", rep.warning)
    if rep.text is None:
        return Output(0.0, NOT_INCLUDED, NO_ABLATION)
    found = static_output(root, rep.name, t.base.source, rep.text)
    return replace(found, note=f"{found.note} ({rep.whose}, assumed for both sides)") \
        if found.basis != NOT_INCLUDED else found


# a likely regression fails the gate as a proven one does: check keeps the unit (issue 28); else: inconclusive
CHECK_AS_ABLATE = {"pass": "removable", "regression": "keep", "likely-regression": "keep"}


def _against_ablate(t: Target, quality: Quality | None, rep: _BaseReport | None) -> AblateComparison | None:
    """When the head is the base without one unit (or the slim prompt's units) that the latest ablation of the base
    text decided otherwise, the two verdicts side by side: ablate tests K removals at once, check one change."""
    if quality is None or t.base is None or t.head is None:
        return None
    text = rep.text if rep else None
    try:
        found = read_ablation(text) if text else None
    except Unreadable:
        return None
    if found is None or found.template_sha256 != hashlib.sha256(t.base.source.encode()).hexdigest():
        return None
    tried = [([u.id], u.text, u.verdict.value) for u in found.units]
    if len(found.slim.removed) > 1:
        tried.append((list(found.slim.removed), "", found.slim.verdict.value))
    mine = CHECK_AS_ABLATE.get(quality.outcome, "inconclusive")
    for removed, unit_text, verdict in tried:
        if verdict != mine and t.base.without(removed) == t.head.source:
            return AblateComparison(removed=removed, text=unit_text, ablate_verdict=verdict, check_verdict=mine,
                                    units=len(found.units), created_at=found.created_at)
    return None


def _row(t: Target, price: Price, models: Models, gates: Gates, static: Output | None = None,
         rep: _BaseReport | None = None) -> CheckRow:
    base_res, head_res = t.base_result, t.head_result
    margin = t.settings.margin.value  # the prompt's own margin when the base config sets one, as ablate and tier
    base = _side(t.base_msgs, base_res, price, t.prompt, models, static, _room(t, base_res, models, margin))
    head = None if t.status == "deleted" else _side(t.head_msgs, head_res, price, t.prompt, models, static,
                                                    _room(t, head_res, models, margin))
    if base is not None and head is not None and base.includes_output != head.includes_output:
        base = _side(t.base_msgs, None, price, t.prompt, models, static)  # like for like
        head = _side(t.head_msgs, None, price, t.prompt, models, static)
    quality = _quality(base_res, head_res, margin) if base_res is not None and head_res is not None else None
    ablate = _against_ablate(t, quality, rep)
    delta_usd = pct = None
    if base is not None and head is not None:
        delta_usd = head.usd_per_month - base.usd_per_month
        if base.usd_per_month > 0:
            pct = 100 * delta_usd / base.usd_per_month
    failures = _failures(t, head, quality, pct, gates)
    if t.status == "deleted":
        failures = []  # a deletion only ever saves
        delta_usd = -base.usd_per_month if base else None
    cases = t.evalset.cases if t.evalset else ()
    per_case = []
    if base_res is not None or head_res is not None:
        for k, case in enumerate(cases):
            per_case.append(CaseScores(id=case.id, base_score=base_res.cases[k].score if base_res else None,
                                       head_score=head_res.cases[k].score if head_res else None,
                                       head_failures=list(head_res.cases[k].failures) if head_res else []))
    also = t.also.model_recommendation if t.also else None
    return CheckRow(
        template=t.path, base_path=t.base_path, status=t.status, name=t.name,
        evalset=t.evalset.path if t.evalset else None, evalset_note=t.evalset_note, cases=len(cases),
        calls_per_month=t.prompt.calls_per_month, max_input_tokens=t.prompt.max_input_tokens, base=base, head=head,
        base_note=t.base_note, evaluated=head_res is not None, quality=quality,
        usd_per_month_delta=delta_usd, usd_per_month_change_pct=pct, failures=failures,
        failed=bool(failures), per_case=per_case, rendered_diff=prompt_diff(t),
        also_models=t.also.models if t.also else None, cheaper_model=also.model if also else None,
        cheaper_model_usd_per_month_saved=also.usd_per_month_saved if also else None,
        evalset_revision=t.evalset_revision, evalset_changes=_changes(t, t.new_cases_result),
        margin=margin, margin_source=t.settings.margin.source, ablate=ablate, review_note=t.review_note,
    )


def _failures(t: Target, head: CheckSide | None, quality: Quality | None, pct: float | None,
              gates: Gates) -> list[str]:
    """The gates this row fails, each as the line check.md shows."""
    failures: list[str] = [t.unchecked] if t.unchecked else []
    margin = t.settings.margin.value
    if quality is not None and quality.outcome == "likely-regression":
        failures.append(f"likely quality regression: best estimate {signed(quality.delta)} is below −margin "
                        f"{signed(-margin)} and the cases seen agree the head is worse; not proven"
                        + (f" (upper bound {signed(quality.ci[1])})" if quality.ci else ""))
    elif quality is not None and quality.regression:
        failures.append(f"quality regression: head is worse than base (upper 95% bound "
                        f"{signed(quality.ci[1])} < 0) and not shown to stay within the margin {margin:g}")
    elif quality is not None and quality.outcome != "pass" and gates.require_noninferior:
        failures.append(f"could not show non-inferiority (lower 95% bound {signed(quality.ci[0])} "
                        f"≤ −margin {signed(-margin)}) and --require-noninferior is set"
                        if quality.ci else "could not show non-inferiority (too few scored cases) "
                        "and --require-noninferior is set")
    budget = t.prompt.max_input_tokens
    if head is not None and budget is not None and head.input_tokens_max > budget:
        failures.append(f"{head.input_tokens_max:,} input tokens/call (largest case) exceeds max_input_tokens "
                        f"{budget:,}")
    if t.status != "deleted" and t.evalset is None and not gates.allow_missing_evalset:
        failures.append(f"no eval set — create {paths.evalset_rel(t.path)} (or pass --allow-missing-evalset)")
    limit = gates.fail_on_cost_increase
    if limit is not None and pct is not None and pct > limit:
        failures.append(f"$/month {signed(pct, 1)}% exceeds --fail-on-cost-increase {limit:g}%")
    return failures


def _changes(t: Target, graded: VariantResult | None) -> EvalsetChanges | None:
    """The PR's eval-set changes for the reviewer, with the head's grade on its new cases when it ran."""
    if t.evalset_changes is None or graded is None or t.head_cases is None:
        return t.evalset_changes
    s = graded.summary
    return replace(t.evalset_changes, head_cases=HeadCases(
        cases=[c.id for c in t.head_cases.cases], usable=s.passes, graded=s.graded, score=s.score.mean,
        ci=list(s.score.ci) if s.score.ci else None, n=s.score.n))


