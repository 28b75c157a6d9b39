"""The ablation engine: run a strategy's variants against the baseline and write down what it found.

The strategy (promptslim/engine/trial.py; leave-one-out with the slim fixed sequence by default) decides
per variant and proposes the slim prompt; this module measures the baseline, prices the findings,
and assembles ablation.json as an `AblationResult`.
"""

from __future__ import annotations

import difflib
import hashlib
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Sequence

from promptslim.decide import ALPHA, METHOD, cases_for_power, detectable, min_cases_unchanged
from promptslim.engine.evaluator import Evaluator, Summary, VariantResult
from promptslim.gitutil import head_commit
from promptslim.cost.figure import cost_of, layout_hint, measured, traffic_warnings
from promptslim.results import (SCHEMA_VERSION, AblationResult, AblationRun, Baseline, Power, SlimFinding,
                                UnitFinding, VariantFacts)
from promptslim.cost.caching import billable_cached, rule_for
from promptslim.engine.record import local_answers_note, price_facts, run_facts, tiny_judge_note, tokens_note, warnings
from promptslim.engine.trial import LeaveOneOut, Phase, Proposal, Strategy, Trial, UnitResult, Variant, bounds
from promptslim.tokens import encoding_for

if TYPE_CHECKING:
    from promptslim.engine.strategies.rewordings import Refusal
    from promptslim.engine.setup import Prepared
    from promptslim.engine.strategies.cheaper_model import CheaperModel
    from promptslim.engine.strategies.rewrite import SayShorter

HOURS_PER_MONTH = 30 * 24


@dataclass(frozen=True)
class Ablation:
    """The engine's answer: ablation.json as a typed result, the slim template source and its diff."""

    data: AblationResult
    slim_source: str
    diff: str
    rewritten_source: str | None = None  # with --rewrite: the slim prompt plus the verified rewrites

    def to_apply(self) -> tuple[str, str] | None:
        """What `--write` puts in place of the template, and its name: the verified rewritten prompt when it saves
        more than the slim prompt (both are verified claims; it starts from the slim prompt's removals or rewords the
        whole text), else the slim prompt when it removes anything, else nothing."""
        w, slim = self.data.rewritten, self.data.slim
        if self.rewritten_source is not None and w is not None and w.verified and (
                not slim.removed or w.usd_per_month_saved > slim.usd_per_month_saved
                or (w.usd_per_month_saved == slim.usd_per_month_saved
                    and (w.input_tokens_saved or 0) > (slim.input_tokens_saved or 0))):
            return self.rewritten_source, "rewritten"
        return (self.slim_source, "slim") if slim.removed else None


def model_strategy(prepared: "Prepared", also_models: Sequence[str]) -> "CheaperModel | None":
    """ablate --also-model: the candidates, validated as `tier` validates them (none repeated, not the model under
    test; prepare() already refused an unknown price), before any call; None without the flag."""
    if not also_models:
        return None
    from promptslim.engine.strategies.cheaper_model import CheaperModel, check_candidates

    names = check_candidates(list(also_models), prepared.models.model, option="ablate: --also-model")
    return CheaperModel(prepared.template.source, names)


def planned_variants(strategy: Strategy, template_source: str) -> list[Variant]:
    """The baseline and every variant the strategy may run: what the plan and the budget gate price."""
    return [Variant("baseline", template_source), *strategy.variants()]


async def run_ablation(ev: Evaluator, margin: float, phase: Phase | None = None, slim_path: str = "",
                       two_stage: bool = True, strategy: Strategy | None = None,
                       shorter: "SayShorter | None" = None, refused: "Sequence[Refusal]" = (),
                       rewritten_path: str = "", models: Sequence[str] = ()) -> Ablation:
    """Baseline, then the strategy's per-variant decisions and its combined proposal (the slim prompt); with
    `shorter`, the rewrites of the units the slim prompt keeps, and the slim prompt with those that held; with
    `models`, the unchanged template on each candidate model against the same baseline answers."""
    started = time.monotonic()
    template = ev.template
    strategy = strategy or LeaveOneOut(template, two_stage)
    for variant in planned_variants(strategy, template.source):
        ev.messages(variant.source)  # every variant must render for every case before any call is made
    n = len(ev.evalset.cases)
    ev.on_case = phase("baseline", n) if phase else None
    baseline = await ev.run(template.source)
    trial = Trial(ev, baseline, margin, phase)
    units = await strategy.decide(trial)
    slim = await strategy.combine(trial, units)
    slim_source = template.without(set(slim.removed))
    ev.messages(slim_source)  # the slim template renders for every case
    diff = "".join(difflib.unified_diff(template.source.splitlines(keepends=True), slim_source.splitlines(keepends=True),
                                        fromfile=template.rel, tofile=slim_path or "slim.j2"))
    adaptive = bool(getattr(strategy, "adaptive", False))
    rewritten_source = None
    extra: dict = {}
    if shorter is not None:
        from promptslim.engine.strategies.rewrite_result import rewrite_keys

        findings = await shorter.decide(trial, set(slim.removed))
        rewritten = await shorter.combine(trial, findings, slim.removed)
        rewritten_source = rewritten.source if rewritten.rewrites else None
        extra = rewrite_keys(ev, baseline, findings, refused, rewritten, slim.removed, rewritten_path)
    if models:
        from promptslim.engine.strategies.cheaper_model import model_keys

        extra.update(await model_keys(trial, list(models)))
    data = _result(ev, margin, baseline, units, slim, slim_path, adaptive, time.monotonic() - started)
    if extra:
        from dataclasses import replace

        data = replace(data, **extra)
    return Ablation(data, slim_source, diff, rewritten_source)


def baseline_record(s: Summary) -> Baseline:
    return Baseline(input_tokens=round(s.input_tokens, 3), output_tokens=round(s.output_tokens, 3),
                    score=s.score.mean, ci=list(s.score.ci) if s.score.ci else None, n=s.score.n, se=s.score.se,
                    pass_rate=s.pass_rate, judge_errors=s.judge_errors, usd_per_call=s.usd_per_call,
                    usd_per_month=s.usd_per_month, usd_per_usable_output=s.usd_per_usable_output, facts=_facts(s))


def _facts(s: Summary) -> VariantFacts:
    return VariantFacts(**vars(s.counts), tokens_source=s.tokens_source)


def _power(units: list[UnitResult], margin: float, n: int) -> Power:
    """What this eval set can decide: the planning figures DESIGN.md asks every inconclusive to come with."""
    k = len(units)
    sds = sorted(r.decision.sd for r in units if r.decision.sd is not None and r.decision.sd > 0)
    sd = statistics.median(sds) if sds else None
    return Power(cases=n, units=k, min_cases_unchanged=min_cases_unchanged(k, margin), median_delta_sd=sd,
                 cases_for_80pct_power=cases_for_power(sd, margin, k) if sd else None,
                 # with no spread at all (unchanged answers) the exact bound is what limits: 1 − (α/K)^(1/n)
                 min_detectable_margin=detectable(sd, n, k) if sd else (
                     1 - (ALPHA / max(k, 1)) ** (1 / n) if n else None))


def _hint(units: list[UnitResult], n: int, repeats: int, power: Power, run: AblationRun) -> str | None:
    """What would settle the inconclusive units, with its calls, $ and time; never "run again until removable"."""
    open_units = [r for r in units if r.verdict == "inconclusive"]
    if not open_units:
        return None
    unchanged = [r for r in open_units if r.decision.sd == 0]
    targets = []
    if unchanged:
        targets.append(power.min_cases_unchanged)
    if power.cases_for_80pct_power:
        targets.append(power.cases_for_80pct_power)
    target = max(targets) if targets else None
    text = f"{len(open_units)} of {len(units)} units are inconclusive at {n} cases"
    if power.min_detectable_margin is not None:
        text += f" (smallest margin this run could detect with 80% power: {power.min_detectable_margin:.3f})"
    if target is None or target <= n:
        return text + ("; their score deltas sit near −margin: more cases of the same kind will not settle them, "
                       "and re-running the same set only re-spends the error")
    per_call_usd = run.usd / run.calls if run.calls else 0.0
    per_call_s = run.wall_seconds / max(run.calls + run.cache_hits, 1)
    calls = (1 + len(units)) * target * repeats * (2 if run.usd_judge else 1)
    text += (f"; about {target} cases in a new, larger eval set would settle most of them: ~{calls:,} calls, "
             f"~${per_call_usd * calls:.2f}, ~{per_call_s * calls / 60:.0f} min at this run's rates. Add cases rather "
             "than re-running this set until something turns removable (every look spends the error budget)")
    if repeats == 1:
        text += ("; --repeats helps only when answers or the judge are noisy (temperature > 0), never with "
                 "deterministic pass/fail answers")
    return text


def _cache_warnings(ev: Evaluator, b: Summary, units: list[UnitResult], slim: Proposal) -> list[str]:
    """The layout hint, and the cache cliff: removals whose static prefix falls below the provider's minimum."""
    template = ev.template
    base = cost_of(ev.price, b.input_tokens, measured(b.output_tokens), ev.config.prompt(template.name),
                   ev.calls_per_month, ev.prefix_of(template.source))
    hint = layout_hint(base)
    out = [hint] if hint else []
    if base.caching is None or not base.caching.cached_tokens:
        return out
    rule = rule_for(ev.price.model, local=ev.price.kind in ("local", "self-hosted"))
    tried = [(f"unit {r.unit.id}", [r.unit.id], r.saves_money) for r in units]
    tried += [(f"units {', '.join(map(str, step.removed))} (slim step)", step.removed, step.saves_money)
              for step in slim.steps if len(step.removed) > 1]
    for label, removed, saves in tried:
        prefix = ev.prefix_of(template.without(set(removed)))
        if billable_cached(prefix.shared_tokens, rule) == 0:
            out.append(f"cache cliff: removing {label} shrinks the static prefix from {base.caching.prefix_tokens:,} "
                       f"to {prefix.shared_tokens:,} tokens, below the {rule.provider} prompt-cache minimum of "
                       f"{rule.min_tokens:,}: it loses the cached-input discount"
                       + ("" if saves else ", costs more per call than the original and is not proposed"))
    return out


def _result(ev: Evaluator, margin: float, baseline: VariantResult, units: list[UnitResult], slim: Proposal,
            slim_path: str, adaptive: bool, wall: float) -> AblationResult:
    runner, models, template = ev.runner, ev.models, ev.template
    n = len(ev.evalset.cases)
    b, s = baseline.summary, slim.result.summary
    slim_per_call = b.usd_per_call - s.usd_per_call
    slim_per_month = slim_per_call * ev.calls_per_month
    run_usd = runner.spent
    payback = (run_usd / (slim_per_month / HOURS_PER_MONTH)) if slim_per_month > 0 else None
    notes = []
    if models.judge_is_local:
        notes.append(tiny_judge_note())
    if models.local:
        notes.append(local_answers_note())
    rate = b.pass_rate
    if rate is not None and rate <= 0.2:
        notes.append(f"the baseline passes only {rate:.0%} of the eval set: a model that cannot do the task "
                     "cannot show which instructions it needs")
    run = AblationRun(calls=runner.api_calls, cache_hits=runner.cache_hits, usd=run_usd,
                      usd_target=runner.totals["target"].usd,
                      usd_judge=runner.totals["judge"].usd if "judge" in runner.totals else 0.0,
                      judge_skipped_identical=ev.judge_skipped, wall_seconds=round(wall, 2), payback_hours=payback,
                      facts=run_facts(runner, [ev], [ev.judge] if ev.judge else [],
                                      max_tokens=ev.params(0).max_tokens, local=models.local))
    judge_role = runner.roles.get("judge")
    power = _power(units, margin, n)
    stage = "two-stage (every other case first; units stopped at the interim look only as keep or futile)" \
        if adaptive else "single stage"
    method = (f"{METHOD}: one-sided non-inferiority p-value per unit (t on paired deltas; pseudo-deltas +1, −1, 0, 0 "
              f"and an exact binomial guard on the cases made worse when two thirds or more deltas are 0; exact bound when "
              f"all deltas are equal), Holm over {len(units)} units at {ALPHA:.0%} familywise for removable; keep = "
              f"one-sided t upper bound below 0 per unit; a unit's ci is [its lower bound at its Holm level, keep's "
              f"upper bound]; {stage}; slim prompt = fixed sequence of nested sets, each verified at 97.5% on its own "
              "run, first failure stops")
    return AblationResult(
        schema_version=SCHEMA_VERSION,
        template=template.rel,
        template_sha256=hashlib.sha256(template.source.encode()).hexdigest(),
        git_commit=head_commit(ev.config.root),
        model=models.model,
        judge_model=models.judge_model,
        evalset=ev.evalset.path,
        cases=n,
        repeats=ev.repeats,
        temperature=ev.temperature,
        margin=margin,
        calls_per_month=ev.calls_per_month,
        tokens_approximate=bool(b.tokens_approximate),
        tokens_source=b.tokens_source,
        unit_tokens_approximate=models.local or encoding_for(models.price_model)[1],
        tokens_note=tokens_note(b.tokens_source, models.price_model, models.local),
        prices=price_facts(ev.price, judge_role.price if judge_role else None),
        warnings=(warnings(run.facts, models.local) + traffic_warnings(template.name, ev.calls_per_month)
                  + _cache_warnings(ev, b, units, slim)),
        baseline=baseline_record(b),
        units=[UnitFinding(
            id=r.unit.id, line=r.unit.line, text=r.unit.text, tokens=r.tokens,
            input_tokens_saved=round(r.input_tokens_saved, 3), output_tokens_delta=round(r.output_tokens_delta, 3),
            score_delta=r.decision.mean, ci=bounds(r.decision.low, r.decision.high), n=r.decision.n,
            verdict=r.verdict, p_value=r.decision.p, holm_level=r.decision.level, stage=r.decision.stage,
            judge_errors=r.judge_errors, truncated=r.variant.counts.truncated if r.variant else 0,
            answers=r.variant.counts.answers if r.variant else 0, usd_per_call_saved=r.usd_per_call_saved,
            usd_per_month_saved=r.usd_per_month_saved) for r in units],
        slim=SlimFinding(
            removed=slim.removed, restored=slim.restored, path=slim_path,
            input_tokens=round(s.input_tokens, 3), output_tokens=round(s.output_tokens, 3),
            input_tokens_saved=round(b.input_tokens - s.input_tokens, 3),
            output_tokens_delta=round(s.output_tokens - b.output_tokens, 3),
            score=s.score.mean, score_delta=sum(slim.deltas) / len(slim.deltas) if slim.deltas else None,
            ci=bounds(slim.low, slim.high), n=len(slim.deltas), verdict=slim.verdict,
            usd_per_call_saved=slim_per_call, usd_per_month_saved=slim_per_month, steps=slim.steps,
            judge_errors=s.judge_errors, facts=_facts(s)),
        run=run,
        power=power,
        price_model=models.price_model,
        judge_note="; ".join(notes) if notes else None,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        method=method,
        inconclusive_hint=_hint(units, n, ev.repeats, power, run),
        pinned=[u.id for u in template.units if u.pinned],
    )
