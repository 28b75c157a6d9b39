"""The PR check: every prompt template changed since a base ref, base vs head — tokens, quality, dollars, gates.

The base side is read from git (`git show REF:path`), never from the working tree, and renders in
the same sandbox as the head side: a pull request can change what "base" means only through git.
Both sides are evaluated on the base revision's eval set (evalsetgate.py: a pull request must not
choose the cases that gate it) through one runner, so an unchanged side is a cache hit and a rerun
of the same check costs nothing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from promptslim import changes, evalsetgate, gitutil, paths, trust
from promptslim.config import Config, PromptConfig, find_root, load_config
from promptslim.cost import NOT_INCLUDED, Output, cost_of, measured, static_output
from promptslim.decide import check_outcome
from promptslim.gitutil import show
from promptslim.errors import InputError, SandboxRefusal
from promptslim.evalset import EvalSet
from promptslim.prefixcache import shared_prefix
from promptslim.prices import Price, price_for, usd_text
from promptslim.report import fmt
from promptslim.results import (CaseScores, CheckResult, CheckRow, CheckRun, CheckSide, ConfigChange,
                                EvalsetChanges, Gates, HeadCases, Prices, Quality, UsdPerMtok)
from promptslim.runfacts import price_facts, run_facts, tokens_note, warnings
from promptslim.runsetup import (NONE, Models, combine_plans, execute, make_evaluator, make_judge, make_runner,
                                 plan_variants, resolve_models, run_notices)
from promptslim.safeio import MAX_TEMPLATE_BYTES, read_repo_text
from promptslim.strategy import Variant
from promptslim.template import Message, Template, template_from_source, template_name
from promptslim.tokens import count_messages


@dataclass(frozen=True)
class CheckOptions:
    """What the command line asks of a check: the base, which templates, and the gates it adds."""

    base: str | None = None
    templates: tuple[str, ...] = ()
    no_eval: bool = False
    allow_missing_evalset: bool = False
    fail_on_cost_increase: float | None = None
    model: str | None = None
    judge_model: str | None = None
    max_cost: float | None = None
    yes: bool = False
    use_cache: bool = True
    require_noninferior: bool = False
    batch: bool = False  # the calls go through the provider's Batch API
    also_models: tuple[str, ...] = ()  # cheaper models to try the head on (a hint for the author, never a gate)


@dataclass
class _Target:
    """One changed template with both sides loaded and rendered (before any call)."""

    status: str  # added | modified | renamed | copied | deleted
    path: str  # head path; the base path when deleted
    base_path: str | None  # where a renamed or copied template came from
    name: str
    prompt: PromptConfig  # the base's settings of the file it came from (its name at the base)
    evalset: EvalSet | None = None  # the set that grades both sides: the base's whenever the base has one
    evalset_revision: str | None = None  # "base" | "head"
    evalset_note: str | None = None  # "changed" | "deleted" | "new" when the head eval set differs from the base's
    evalset_changes: EvalsetChanges | None = None  # shown for review, not applied
    head_cases: EvalSet | None = None  # the head's added/changed cases: graded for the reviewer, never the gate
    unchecked: str | None = None  # why the head cannot be graded on the base's eval set (the row fails)
    base: Template | None = None
    head: Template | None = None
    base_msgs: list[list[Message]] | None = None
    head_msgs: list[list[Message]] | None = None
    base_note: str | None = None  # why the base side has no figures
    review_note: str | None = None  # what a reviewer must know about how this file was matched to the base

    @property
    def evaluable(self) -> bool:
        return self.status != "deleted" and self.evalset is not None and self.head_msgs is not None

    @property
    def graded(self) -> bool:
        """Anything to send to the model: the gate's sides, or the head on this PR's new cases."""
        return self.evaluable or (self.head is not None and self.head_cases is not None)


def run_check(options: CheckOptions, notice: Callable[[str], None], root: Path | None = None) -> CheckResult:
    """Compare changed templates at REF with the working tree; gates decide `failed`. Writes nothing."""
    o = options
    trust.refuse_linked_config(root or find_root())
    head_config = load_config(root)  # validated: a broken head config is still bad input
    root = head_config.root
    ref, sha = changes.resolve_base(root, o.base)
    config = trust.base_config(root, sha)  # the gate is the base's, never the pull request's own
    config_changes = trust.config_changes(config, head_config)
    trust.check_state(root, config.home)
    changed = changes.restrict(changes.discover(root, sha), list(o.templates), root)
    models = resolve_models(config, o.model, o.judge_model)
    if o.also_models:
        from promptslim.tier import check_candidates

        if o.no_eval:
            raise InputError("--also-model needs the eval run: drop --no-eval")
        check_candidates(list(o.also_models), models.model, option="check: --also-model")
    price = price_for(models.price_model, config)
    targets = [_load(change, root, sha, config) for change in changed]
    _review_notes(targets, config, head_config)
    results: dict[tuple[int, str], Any] = {}
    run: CheckRun | None = None
    prices: Prices | None = None
    if not o.no_eval and any(t.graded for t in targets):
        results, run, prices = _evaluate(targets, config, models, price, o, notice)
    gates = Gates(margin=config.margin, fail_on_cost_increase=o.fail_on_cost_increase,
                  allow_missing_evalset=o.allow_missing_evalset, require_noninferior=o.require_noninferior)
    outputs = [_base_output(t, root, sha) for t in targets]
    rows = [_row(i, t, results, price, models, gates, outputs[i]) for i, t in enumerate(targets)]
    skipped = list(dict.fromkeys(o.warning for o in outputs if o is not None and o.warning))
    sources = {side.tokens_source for r in rows for side in (r.base, r.head) if side}
    tokens_source = "estimated" if "estimated" in sources or not sources else (
        "server-reported" if "server-reported" in sources else "exact")
    return CheckResult(
        base=ref, base_sha=sha, no_eval=o.no_eval, model=models.model, judge_model=models.judge_model,
        local_model=_local_model_name() if models.local else None,
        price_model=models.price_model, price_source=price.source,
        prices=prices or price_facts(price, None), tokens_source=tokens_source,
        tokens_note=tokens_note(tokens_source, models.price_model, models.local),
        warnings=(warnings(run.facts, models.local) if run else []) + skipped,
        usd_per_mtok=UsdPerMtok(input=price.input, cached_input=price.cached_input, output=price.output),
        restricted_to=sorted(o.templates) if o.templates else None, gates=gates, templates=rows,
        failed=any(r.failed for r in rows), run=run,
        config_changes=[ConfigChange(**change) for change in config_changes])


# ---------------------------------------------------------------- load and render both sides
def _load(change: gitutil.Change, root: Path, sha: str, config: Config) -> _Target:
    head_rel = None if change.status == "deleted" else change.path
    base_rel = change.base_path
    name = template_name(head_rel or base_rel or change.path)
    # a renamed or copied template is gated by the settings of the file it came from, never by a name the PR chose —
    # unless the base already has settings of its own for the new name (landed first, so trusted)
    gate = name if name in config.prompts or not base_rel else template_name(base_rel)
    t = _Target(change.status, change.path, base_rel, name, config.prompt(gate))
    if head_rel:
        source = read_repo_text(root / head_rel, root, "template", MAX_TEMPLATE_BYTES)
        t.head = template_from_source(source, head_rel)
    if base_rel:
        source = gitutil.show(root, sha, base_rel)
        if source is None:
            raise InputError(f"{base_rel}: not found at {sha[:7]} (git show failed)")
        # rel names the git object, so errors read "abc1234:prompts/x.j2:3: …"; the config key is the head's.
        # A base that does not compile is what a PR may be fixing: report it, do not block on it.
        try:
            t.base = replace(template_from_source(source, f"{sha[:7]}:{base_rel}"), name=name)
        except InputError as exc:
            t.base_note = f"the base version does not compile ({exc.message})"
    if change.status == "deleted":  # static figures of what goes away, on the base's eval set
        at_base = evalsetgate.base_text(root, sha, base_rel)
        t.evalset = evalsetgate.from_text(*at_base, t.prompt) if at_base else None
        t.evalset_revision = "base" if t.evalset else None
    else:
        g = evalsetgate.choose(root, sha, base_rel, head_rel, t.prompt)
        t.evalset, t.evalset_revision, t.evalset_note, t.evalset_changes = g.gate, g.revision, g.note, g.changes
        t.head_cases = g.head_cases()
        if t.head is not None and g.head is not None:
            _render(t.head, g.head, strict=True)  # the PR's template and eval set must agree: bad input otherwise
    if t.head is not None:
        if t.evalset_revision == "base" and t.evalset_note in ("changed", "deleted"):
            t.head_msgs, t.unchecked = evalsetgate.render_on_base(t.head, t.evalset)
        else:
            t.head_msgs = _render(t.head, t.evalset, strict=t.evalset is not None)
    if t.base is not None:
        t.base_msgs = _render(t.base, t.evalset, strict=False)
        if t.base_msgs is None:
            t.base_note = (f"the base version does not render with {_whose(t)} eval set"
                           if t.evalset else "the base version does not render without variables")
    return t


def _review_notes(targets: list[_Target], config: Config, head_config: Config) -> None:
    """How a renamed, copied or replacing file was gated, for the reviewer (a rename git cannot see is an add)."""
    deleted = [t.path for t in targets if t.status == "deleted"]
    for t in targets:
        if t.status in ("renamed", "copied") and t.base_path:
            old, new = template_name(t.base_path), t.name
            if old in config.prompts and new not in head_config.prompts:
                t.review_note = (f"gated by the base settings of `{t.base_path}` ([prompts.\"{old}\"]); this PR's "
                                 f"config has no [prompts.\"{new}\"], so once merged it has none")
        elif t.status == "added" and deleted:
            t.review_note = (f"new in this PR while it deletes {', '.join(f'`{p}`' for p in deleted)} — if it replaces "
                             "it, it was gated as new, without that template's settings and eval set")


def _whose(t: _Target) -> str:
    return "the base revision's" if t.evalset_revision == "base" else "this PR's"


def _render(tpl: Template, evalset: EvalSet | None, strict: bool) -> list[list[Message]] | None:
    """Messages per eval case (or one render with no variables); None when that is not possible.

    A sandbox refusal always raises, strict or not: a template that tries to escape is an error
    on either side, never a figure we leave out.
    """
    try:
        if evalset is not None:
            return [tpl.render(c.vars, c.input, c.where(evalset.path)) for c in evalset.cases]
        return [tpl.render({}, "", None)]
    except SandboxRefusal:
        raise
    except InputError:
        if strict:
            raise
        return None


# ---------------------------------------------------------------- evaluate (one runner, cached)
def _evaluate(targets: list[_Target], config: Config, models: Models, price: Price, o: CheckOptions,
              notice: Callable[[str], None]) -> tuple[dict, CheckRun, Prices]:
    """Both sides of every evaluable template through the shared run set-up: one runner, one plan, one gate."""
    budget = config.max_cost_usd if o.max_cost is None else o.max_cost
    for line in run_notices(models):
        notice(line)
    runner = make_runner(config, models, budget_usd=budget, use_cache=o.use_cache, command="check", batch=o.batch,
                         candidates=o.also_models)  # endpoints from the base config, as every gate setting
    jobs: list[tuple[tuple[int, str], Any, str, str | None]] = []
    plans = []
    extra = []  # plans of the head on this PR's new cases: information, counted in the plan and the budget
    for i, t in enumerate(targets):
        if t.head is not None and t.head_cases is not None:
            judge = make_judge(runner, models, t.head_cases, config)
            ev = make_evaluator(t.head, t.head_cases, runner, models if judge else replace(models, judge_model=NONE),
                                config, judge, repeats=config.repeats)
            jobs.append(((i, "head_cases"), ev, t.head.source, None))
            extra.append(plan_variants(ev, [Variant("head_cases", t.head.source)], budget))
        if not t.evaluable:
            continue
        assert t.evalset is not None and t.head is not None
        judge = make_judge(runner, models, t.evalset, config)
        side_models = models if judge is not None else replace(models, judge_model=NONE)
        sides = [("head", t.head)] + ([("base", t.base)] if t.base is not None and t.base_msgs else [])
        for side, tpl in sides:
            ev = make_evaluator(tpl, t.evalset, runner, side_models, config, judge, repeats=config.repeats)
            jobs.append(((i, side), ev, tpl.source, None))
            # an identical rendering (eval-set-only change) is answered once: plan it once
            if side == "head" or t.base_msgs != t.head_msgs:
                plans.append(plan_variants(ev, [Variant(side, tpl.source)], budget))
            if side == "head":
                for m in o.also_models:
                    jobs.append(((i, f"model:{m}"), ev, tpl.source, m))
                    plans.append(plan_variants(ev, [Variant(f"model:{m}", tpl.source, model=m)], budget))
    plan = combine_plans(plans + extra, budget)
    judge_note = f" + {plan.judge_calls} judge calls ({models.judge_model})" if plan.judge_calls else ""
    batch_note = ""
    if o.batch:
        online = plan.usd_list or 0.0
        batch_note = f" at the batch price (online ${online:.4f}; --batch saves ${online - plan.usd:.4f})"
    notice(f"plan: {plan.variants} variant(s) over {len({job[0][0] for job in jobs})} changed "
           f"template(s) = {plan.target_calls} target calls ({models.model}; "
           f"{plan.cached_calls} cached){judge_note}{_extra_note(extra)}; ~{plan.input_tokens:,} input "
           f"tokens, ~{plan.output_tokens:,} output tokens (estimated); estimated ${plan.usd:.4f}"
           f"{batch_note} of {usd_text(budget)} budget")

    answers = execute(runner, plan, o.yes,
                      lambda: runner.gather(ev.run(source, model=m) for _, ev, source, m in jobs))
    evaluators = list({id(job[1]): job[1] for job in jobs}.values())
    run = CheckRun(calls=runner.api_calls, cache_hits=runner.cache_hits, usd=runner.spent,
                   facts=run_facts(runner, evaluators, [ev.judge for ev in evaluators if ev.judge is not None],
                                   max_tokens=evaluators[0].params(0).max_tokens if evaluators else config.max_tokens,
                                   local=models.local))
    judge_role = runner.roles.get("judge")
    prices = price_facts(price, judge_role.price if judge_role else None)
    results = {job[0]: answer for job, answer in zip(jobs, answers)}
    if o.also_models:
        from promptslim.tier import compare

        for (i, side), ev, _, _ in jobs:
            if side == "head":
                runs = [(m, results[(i, f"model:{m}")]) for m in o.also_models]
                results[(i, "also")] = compare(ev, results[(i, "head")], runs, config.margin)
    return results, run, prices


def _extra_note(extra: list) -> str:
    if not extra:
        return ""
    calls = sum(p.target_calls for p in extra)
    return f", of which {calls} on this PR's new or changed eval cases (for the reviewer, not the gate)"


def _local_model_name() -> str:
    """The embedded model's name, so check.md can say its verdicts come from a small local model."""
    from promptslim.llm.local import local_name

    return local_name()[0]


# ---------------------------------------------------------------- figures and gates
def _side(msgs: list[list[Message]] | None, result: Any, price: Price, prompt: PromptConfig,
          models: Models, static: Output | None = None) -> CheckSide | None:
    if msgs is None:
        return None
    s = result.summary if result is not None else None
    if s is not None and s.tokens_source != "estimated":
        tokens = [c.input_tokens for c in result.cases]  # exact, or what the endpoint reported (issue 17)
        source = s.tokens_source
    else:  # static: our count, an estimate where the model has no public tokenizer
        counted = [count_messages(m, models.price_model) for m in msgs]
        tokens = [c.tokens for c in counted]
        source = "estimated" if models.local or any(c.approximate for c in counted) else "exact"
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
                     judge_errors=s.judge_errors if s else 0, output_basis=output.basis, output_note=output.note)


def _quality(base_res: Any, head_res: Any, margin: float) -> Quality:
    deltas = [h - b for h, b in zip(head_res.scores(), base_res.scores()) if h is not None and b is not None]
    q = check_outcome(deltas, margin)
    return Quality(outcome=q["outcome"], delta=q["delta"], ci=q["ci"], n=q["n"], sd=q["sd"],
                   min_detectable=q["min_detectable"], regression=q["outcome"] == "regression",
                   judge_errors={"base": sum(1 for x in base_res.scores() if x is None),
                                 "head": sum(1 for x in head_res.scores() if x is None)})


def _base_output(t: _Target, root: Path, sha: str) -> Output | None:
    """Static output tokens for both sides: the base revision's own ablation of the base text, read from git.

    Never the checkout's reports/: a pull request must not set the cost figure its own gate compares. A base
    report that cannot be believed (a symlink in git, a forged figure) is left out with a warning.
    """
    if t.base is None:
        return None
    name = template_name(t.base_path) if t.base_path else t.name  # the base's ablation is filed under its own name
    rel = f"reports/{name}/ablation.json"
    try:
        text = show(root, sha, rel)
    except InputError as exc:
        return Output(0.0, NOT_INCLUDED, "not included (its ablation.json was skipped)", f"{exc.message} — skipped")
    if text is None:
        return Output(0.0, NOT_INCLUDED, "not included (no measured answers for this template text yet — "
                                         "run promptslim eval or ablate)")
    found = static_output(root, name, t.base.source, text)
    return replace(found, note=found.note + " (the base's, assumed for both sides)") \
        if found.basis != NOT_INCLUDED else found


def _row(i: int, t: _Target, results: dict, price: Price, models: Models, gates: Gates,
         static: Output | None = None) -> CheckRow:
    base_res, head_res = results.get((i, "base")), results.get((i, "head"))
    base = _side(t.base_msgs, base_res, price, t.prompt, models, static)
    head = None if t.status == "deleted" else _side(t.head_msgs, head_res, price, t.prompt, models, static)
    if base is not None and head is not None and base.includes_output != head.includes_output:
        base = _side(t.base_msgs, None, price, t.prompt, models, static)  # like for like
        head = _side(t.head_msgs, None, price, t.prompt, models, static)
    failures: list[str] = [t.unchecked] if t.unchecked else []
    quality = None
    if base_res is not None and head_res is not None:
        quality = _quality(base_res, head_res, gates.margin)
        if quality.regression:
            failures.append(f"quality regression: head is worse than base (upper 95% bound "
                            f"{fmt.signed(quality.ci[1])} < 0) and not shown to stay within the margin "
                            f"{gates.margin:g}")
        elif quality.outcome != "pass" and gates.require_noninferior:
            failures.append(f"could not show non-inferiority (lower 95% bound {fmt.signed(quality.ci[0])} "
                            f"≤ −margin {fmt.signed(-gates.margin)}) and --require-noninferior is set"
                            if quality.ci else "could not show non-inferiority (too few scored cases) "
                            "and --require-noninferior is set")
    budget = t.prompt.max_input_tokens
    if head is not None and budget is not None and head.input_tokens_max > budget:
        failures.append(f"{head.input_tokens_max:,} input tokens/call (largest case) exceeds max_input_tokens "
                        f"{budget:,}")
    if t.status != "deleted" and t.evalset is None and not gates.allow_missing_evalset:
        failures.append(f"no eval set — create {paths.evalset_rel(t.path)} (or pass --allow-missing-evalset)")
    delta_usd = pct = None
    if base is not None and head is not None:
        delta_usd = head.usd_per_month - base.usd_per_month
        if base.usd_per_month > 0:
            pct = 100 * delta_usd / base.usd_per_month
    limit = gates.fail_on_cost_increase
    if limit is not None and pct is not None and pct > limit:
        failures.append(f"$/month {fmt.signed(pct, 1)}% exceeds --fail-on-cost-increase {limit:g}%")
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
    return CheckRow(
        template=t.path, base_path=t.base_path, status=t.status, name=t.name,
        evalset=t.evalset.path if t.evalset else None, evalset_note=t.evalset_note, cases=len(cases),
        calls_per_month=t.prompt.calls_per_month, max_input_tokens=budget, base=base, head=head,
        base_note=t.base_note, evaluated=head_res is not None, quality=quality,
        usd_per_month_delta=delta_usd, usd_per_month_change_pct=pct, failures=failures,
        failed=bool(failures), per_case=per_case, rendered_diff=_prompt_diff(t),
        also_models=results[(i, "also")][0] if (i, "also") in results else None,
        cheaper_model=results[(i, "also")][1] if (i, "also") in results else None,
        cheaper_model_usd_per_month_saved=results[(i, "also")][2] if (i, "also") in results else None,
        evalset_revision=t.evalset_revision, evalset_changes=_changes(t, results.get((i, "head_cases"))),
        review_note=t.review_note,
    )


def _changes(t: _Target, graded: Any) -> EvalsetChanges | None:
    """The PR's eval-set changes for the reviewer, with the head's grade on its new cases when it ran."""
    if t.evalset_changes is None or graded is None or t.head_cases is None:
        return t.evalset_changes
    s = graded.summary
    return replace(t.evalset_changes, head_cases=HeadCases(
        cases=[c.id for c in t.head_cases.cases], usable=s.passes, graded=s.graded, score=s.score.mean,
        ci=list(s.score.ci) if s.score.ci else None, n=s.score.n))


def _prompt_text(msgs: list[list[Message]] | None) -> str | None:
    """The rendered system prompt of the first case (every template message when there is no system one)."""
    if not msgs:
        return None
    first = msgs[0]
    system = [m["content"] for m in first if m["role"] == "system"]
    if system:
        return "\n\n".join(system)
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in first)


def _prompt_diff(t: _Target) -> str:
    """Unified diff of the rendered prompt, base vs head; empty when the rendering did not change."""
    old, new = _prompt_text(t.base_msgs), _prompt_text(t.head_msgs)
    if old == new or t.unchecked:  # a head with no rendering on the base's cases: no diff against nothing
        return ""
    base_name = f"base {t.base.rel}" if t.base is not None else "/dev/null"
    head_name = f"head {t.path}" if t.head is not None else "/dev/null"
    return "\n".join(difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(), base_name, head_name,
                                         lineterm=""))
