"""The cheaper-model lever: the same template on each candidate model against the configured model, paired on the
same cases, decided by the removal statistics (non-inferiority at the margin, Holm across the candidates).

Why the same test as a unit removal: "this model is as good" is the same one-sided claim as "this unit is not
needed", and a team that switches models on a false claim loses the same quality. Holm over the K candidates
keeps the chance that any candidate is wrongly called non-inferior at or below 5%, so the cheapest
non-inferior candidate, picked after the fact, still carries that guarantee. `tier`, `ablate --also-model` and
`check --also-model` all run this one strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from promptslim.cost.prices import Price
from promptslim.decide import ALPHA, METHOD, UnitDecision, decide_units
from promptslim.engine.evaluator import Summary
from promptslim.engine.setup import Prepared
from promptslim.engine.trial import State, Trial, Variant, bounds, paired
from promptslim.errors import InputError
from promptslim.llm.runner import candidate_role
from promptslim.results import PriceFacts, SideErrors
from promptslim.results.models import ModelFinding, ModelRecommendation, ModelsSection
from promptslim.results.variants import ModelVerdict


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


def check_candidates(candidates: Sequence[str], baseline_model: str, option: str = "tier: --model") -> list[str]:
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
    return list(candidates)


class CheaperModel:
    """One variant per candidate model (the template unchanged), decided together with Holm; its section is
    ablation.json's `models` and `model_recommendation` (tier.json and check's rows are built from it)."""

    def __init__(self, candidates: Sequence[str], *, option: str = "ablate: --also-model", source: str = "") -> None:
        self.candidates = list(candidates)
        self.option = option  # the flag that named the candidates, for the refusals
        self.source = source

    @property
    def models(self) -> list[str]:
        """The models this lever sends variants to: each gets a runner role of its own (endpoint, price)."""
        return list(dict.fromkeys(self.candidates))

    def prepare(self, setup: Prepared) -> "CheaperModel":
        names = check_candidates(self.candidates, setup.models.model, option=self.option)
        return CheaperModel(names, option=self.option, source=setup.template.source)

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

    async def run(self, trial: Trial, state: State) -> ModelsSection:
        """The candidates on the same cases as the baseline's answers (a family of its own: Holm over the
        candidates, the units' error budget is not shared with the models')."""
        ev = trial.ev
        if not self.source:  # not prepared: the template under test, unchanged
            return await CheaperModel(self.candidates, option=self.option, source=ev.template.source).run(trial, state)
        results = await self.decide(trial)
        b = trial.baseline.summary
        best = self.recommend(results, b)
        totals = ev.runner.totals
        spent = sum(totals[candidate_role(m)].usd for m in self.candidates if candidate_role(m) in totals)
        pick = ModelRecommendation(model=best.model if best else None,
                                   usd_per_month_saved=(b.usd_per_month - best.summary.usd_per_month) if best else 0.0,
                                   usd_spent=spent,
                                   method=models_method(ev.models.model, trial.margin, len(self.candidates)))
        return ModelsSection([finding(r, b, ev.price_of(r.model)) for r in results], pick)


def models_method(baseline_model: str, margin: float, k: int) -> str:
    """The test behind a candidate's verdict, as tier.json's `method` and ablation.json's model_recommendation say."""
    return (f"{METHOD} applied to models: paired per-case score deltas (candidate − {baseline_model}) on the same "
            f"cases; one-sided non-inferiority at margin {margin:g}, Holm over {k} candidate(s) at "
            f"{ALPHA:.0%} familywise (non-inferior); worse = one-sided t upper bound below 0; a candidate's ci is "
            "[its lower bound at its Holm level, the upper bound]; recommendation = the cheapest non-inferior "
            "candidate that costs less per call than the configured model")


def finding(r: ModelResult, b: Summary, price: Price) -> ModelFinding:
    s, d = r.summary, r.decision
    return ModelFinding(
        model=r.model, input_tokens=round(s.input_tokens, 3), output_tokens=round(s.output_tokens, 3),
        score=s.score.mean, score_delta=d.mean, ci=bounds(d.low, d.high), verdict=r.verdict,
        usd_per_call=s.usd_per_call, usd_per_month=s.usd_per_month,
        usd_per_month_saved=b.usd_per_month - s.usd_per_month, n=d.n, p_value=d.p, holm_level=d.level,
        pass_rate=s.pass_rate, usd_per_usable_output=s.usd_per_usable_output, tokens_source=s.tokens_source,
        tokens_approximate=bool(s.tokens_approximate), judge_errors=r.judge_errors,
        price=PriceFacts(**price.describe()))
