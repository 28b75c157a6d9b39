"""The cheaper-model lever's result: one finding per candidate model and the pick (ablation.json's `models` and
`model_recommendation`, tier.json's `models`, check's `also_models`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from promptslim.jsontypes import JsonRecord
from promptslim.results.run import PriceFacts
from promptslim.results.sections import Proven, Section
from promptslim.results.variants import ModelVerdict, SideErrors


@dataclass(frozen=True)
class ModelFinding(JsonRecord):
    """One candidate model (DESIGN.md's `models` entry first, then what backs it)."""

    model: str
    input_tokens: float
    output_tokens: float
    score: float | None
    score_delta: float | None
    ci: list[float] | None
    verdict: ModelVerdict
    usd_per_call: float
    usd_per_month: float
    usd_per_month_saved: float
    n: int
    p_value: float
    holm_level: float
    pass_rate: float | None
    usd_per_usable_output: float | None
    tokens_source: str  # exact (its own tiktoken encoding) | server-reported | estimated
    tokens_approximate: bool
    judge_errors: SideErrors
    price: PriceFacts


@dataclass(frozen=True)
class ModelRecommendation(JsonRecord):
    """ablation.json's pick among the `models` (ablate --also-model): present whenever `models` is, `model` null
    when no candidate was shown non-inferior and cheaper."""

    model: str | None  # the cheapest non-inferior candidate that costs less per call than the configured model
    usd_per_month_saved: float  # its saving at the run's calls_per_month (0 without one)
    usd_spent: float  # what the candidates' calls cost this run (inside run.usd)
    method: str  # the test behind the verdicts of `models` (a family of its own, apart from the units')


@dataclass(frozen=True)
class ModelsSection(Section):
    """Same prompt, cheaper model: every candidate against the configured model on the same cases, and the pick."""

    lever: ClassVar[str] = "model"
    models: list[ModelFinding]
    model_recommendation: ModelRecommendation

    def proven(self, model: str) -> Proven | None:
        pick = self.model_recommendation
        return Proven(pick.usd_per_month_saved, f"{pick.model} instead of {model}") if pick.model else None
