"""The cheaper-model strategy: the same template on each candidate model against the configured model, paired on
the same cases, decided by the removal statistics (non-inferiority at the margin, Holm across the candidates).

Why the same test as a unit removal: "this model is as good" is the same one-sided claim as "this unit is not
needed", and a team that switches models on a false claim loses the same quality. Holm over the K candidates
keeps the chance that any candidate is wrongly called non-inferior at or below 5%, so the cheapest
non-inferior candidate, picked after the fact, still carries that guarantee.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from promptslim.decide import ALPHA, METHOD, UnitDecision, decide_units
from promptslim.errors import InputError
from promptslim.engine.evaluator import Evaluator, Summary, VariantResult
from promptslim.gitutil import head_commit
from promptslim.results import PriceFacts, SideErrors
from promptslim.results.tier import (TIER_SCHEMA_VERSION, ModelFinding, ModelRecommendation, ModelVerdict, TierResult,
                                     TierRun)
from promptslim.engine.record import run_facts, warnings
from promptslim.engine.setup import candidate_role
from promptslim.engine.trial import Phase, Trial, Variant, bounds, paired

@dataclass(frozen=True)
class ModelResult:
    """What one candidate model did against the configured model on the same cases."""

    model: str
    summary: Summary
    decision: UnitDecision
    judge_errors: SideErrors

    @property
    def verdict(self) -> ModelVerdict:
        return ModelVerdict.of(self.decision.verdict)


def check_candidates(candidates: list[str], baseline_model: str, option: str = "tier: --model") -> list[str]:
    """The candidates as given, refused when empty, repeated, or the baseline itself (nothing to compare);
    `option` names the flag in the message (`tier: --model`, `ablate: --also-model`)."""
    if not candidates:
        raise InputError(f"{option.split(': ')[0]}: name at least one candidate with --model (e.g. --model gpt-4.1-nano)")
    seen: set[str] = set()
    for name in candidates:
        if name in seen:
            raise InputError(f"{option} {name} is given twice")
        if name == baseline_model:
            raise InputError(f"{option} {name} is the configured model (the baseline) — name other models, or "
                             "set `model` in promptslim.toml to the one to compare against")
        seen.add(name)
    return candidates


class CheaperModel:
    """One variant per candidate model (the template unchanged), decided together with Holm."""

    two_stage = False

    def __init__(self, source: str, candidates: list[str]) -> None:
        self.source = source
        self.candidates = candidates

    def variants(self) -> list[Variant]:
        return [Variant(f"model {m}", self.source, model=m) for m in self.candidates]

    async def decide(self, trial: Trial) -> list[ModelResult]:
        ev = trial.ev
        variants = self.variants()
        trial.tick("candidate models", len(ev.evalset.cases) * len(variants))
        runs = await ev.runner.gather(trial.run(v) for v in variants)
        pairs = [paired(r.cases, trial.baseline.cases) for r in runs]
        decisions = decide_units([d for d, _ in pairs], trial.margin)
        return [ModelResult(v.model or "", r.summary, d, errors)
                for v, r, d, (_, errors) in zip(variants, runs, decisions, pairs)]

    @staticmethod
    def recommend(results: list[ModelResult], baseline: Summary) -> ModelResult | None:
        """The cheapest non-inferior candidate that costs less per call than the configured model."""
        good = [r for r in results if r.verdict == ModelVerdict.NON_INFERIOR
                and r.summary.usd_per_call < baseline.usd_per_call]
        return min(good, key=lambda r: r.summary.usd_per_call, default=None)


def compare(ev: Evaluator, baseline: VariantResult, runs: list[tuple[str, VariantResult]],
            margin: float) -> tuple[list[ModelFinding], str | None, float]:
    """Findings for candidate runs already made (check --also-model), the recommendation and its $/month saving."""
    pairs = [paired(r.cases, baseline.cases) for _, r in runs]
    decisions = decide_units([d for d, _ in pairs], margin)
    results = [ModelResult(m, r.summary, d, e) for (m, r), d, (_, e) in zip(runs, decisions, pairs)]
    best = CheaperModel.recommend(results, baseline.summary)
    saved = baseline.summary.usd_per_month - best.summary.usd_per_month if best else 0.0
    return [_finding(ev, r, baseline.summary) for r in results], best.model if best else None, saved


async def run_tier(ev: Evaluator, candidates: list[str], margin: float, phase: Phase | None = None) -> TierResult:
    """Baseline on the configured model, every candidate on the same cases, verdicts, and the recommendation."""
    from promptslim.engine.ablation import baseline_record

    started = time.monotonic()
    strategy = CheaperModel(ev.template.source, candidates)
    ev.messages(ev.template.source)  # every case renders before any call
    ev.on_case = phase("baseline", len(ev.evalset.cases)) if phase else None
    baseline = await ev.run(ev.template.source)
    trial = Trial(ev, baseline, margin, phase)
    results = await strategy.decide(trial)
    best = strategy.recommend(results, baseline.summary)
    b = baseline.summary
    findings = [_finding(ev, r, b) for r in results]
    runner, models = ev.runner, ev.models
    candidate_usd = sum(runner.totals[candidate_role(m)].usd for m in candidates if candidate_role(m) in runner.totals)
    facts = run_facts(runner, [ev], [ev.judge] if ev.judge else [], max_tokens=ev.params(0).max_tokens,
                      local=models.local)
    run = TierRun(calls=runner.api_calls, cache_hits=runner.cache_hits, usd=runner.spent,
                  usd_target=runner.totals["target"].usd,
                  usd_judge=runner.totals["judge"].usd if "judge" in runner.totals else 0.0,
                  usd_candidates=candidate_usd, wall_seconds=round(time.monotonic() - started, 2), facts=facts)
    method = models_method(models.model, margin, len(candidates))
    return TierResult(
        schema_version=TIER_SCHEMA_VERSION, template=ev.template.rel,
        template_sha256=hashlib.sha256(ev.template.source.encode()).hexdigest(),
        git_commit=head_commit(ev.config.root), model=models.model, judge_model=models.judge_model,
        evalset=ev.evalset.path, cases=len(ev.evalset.cases), repeats=ev.repeats, temperature=ev.temperature,
        margin=margin, calls_per_month=ev.calls_per_month,
        cached_input_fraction=ev.config.prompt(ev.template.name).cached_input_fraction,
        baseline=baseline_record(b), baseline_price=PriceFacts(**ev.price.describe()), models=findings,
        recommendation=best.model if best else None,
        usd_per_month_saved=(b.usd_per_month - best.summary.usd_per_month) if best else 0.0,
        method=method, warnings=warnings(facts, models.local), run=run,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def models_method(baseline_model: str, margin: float, k: int) -> str:
    """The test behind a candidate's verdict, as tier.json's `method` and ablation.json's model_recommendation say."""
    return (f"{METHOD} applied to models: paired per-case score deltas (candidate − {baseline_model}) on the same "
            f"cases; one-sided non-inferiority at margin {margin:g}, Holm over {k} candidate(s) at "
            f"{ALPHA:.0%} familywise (non-inferior); worse = one-sided t upper bound below 0; a candidate's ci is "
            "[its lower bound at its Holm level, the upper bound]; recommendation = the cheapest non-inferior "
            "candidate that costs less per call than the configured model")


async def model_keys(trial: Trial, candidates: list[str]) -> dict:
    """ablation.json's `models` and `model_recommendation` (ablate --also-model): the candidates on the same
    cases as the ablation's baseline answers, decided as `tier` decides them (Holm over the candidates, a family
    of its own: the units' error budget is not shared with the models')."""
    ev = trial.ev
    strategy = CheaperModel(ev.template.source, candidates)
    results = await strategy.decide(trial)
    b = trial.baseline.summary
    best = strategy.recommend(results, b)
    totals = ev.runner.totals
    spent = sum(totals[candidate_role(m)].usd for m in candidates if candidate_role(m) in totals)
    pick = ModelRecommendation(model=best.model if best else None,
                               usd_per_month_saved=(b.usd_per_month - best.summary.usd_per_month) if best else 0.0,
                               usd_spent=spent, method=models_method(ev.models.model, trial.margin, len(candidates)))
    return {"models": [_finding(ev, r, b) for r in results], "model_recommendation": pick}


def _finding(ev: Evaluator, r: ModelResult, b: Summary) -> ModelFinding:
    s, d = r.summary, r.decision
    return ModelFinding(
        model=r.model, input_tokens=round(s.input_tokens, 3), output_tokens=round(s.output_tokens, 3),
        score=s.score.mean, score_delta=d.mean, ci=bounds(d.low, d.high), verdict=r.verdict,
        usd_per_call=s.usd_per_call, usd_per_month=s.usd_per_month,
        usd_per_month_saved=b.usd_per_month - s.usd_per_month, n=d.n, p_value=d.p, holm_level=d.level,
        pass_rate=s.pass_rate, usd_per_usable_output=s.usd_per_usable_output, tokens_source=s.tokens_source,
        tokens_approximate=bool(s.tokens_approximate), judge_errors=r.judge_errors,
        price=PriceFacts(**ev.price_of(r.model).describe()))
