"""reports/<name>/tier.json: the same prompt on cheaper models, each against the configured model; its JSON Schema."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptslim.jsontypes import FLAT, JsonRecord, document_schema, shipped, write_shipped
from promptslim.results.ablation import Baseline, SideErrors
from promptslim.results.run import PriceFacts, RoleSpend, RunFacts

TIER_SCHEMA_VERSION = 1


class ModelVerdict(str, enum.Enum):
    """What the comparison of a candidate model with the configured model concluded."""

    NON_INFERIOR = "non-inferior"  # lower bound of the score delta above −margin (Holm across the candidates)
    WORSE = "worse"  # upper bound below 0: the candidate measurably loses quality
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, verdict: str) -> "ModelVerdict":
        """A unit-style decision (removable / keep / inconclusive) read as a comparison with the baseline."""
        return {"removable": cls.NON_INFERIOR, "keep": cls.WORSE}.get(verdict, cls.INCONCLUSIVE)


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
class TierRun(RoleSpend):
    """What the comparison spent (the configured model, the candidates, the judge), how long it took."""

    usd_candidates: float
    wall_seconds: float
    facts: RunFacts = field(metadata=FLAT)


@dataclass(frozen=True)
class TierResult(JsonRecord):
    """reports/<name>/tier.json: the result of `promptslim tier`."""

    schema_version: int
    template: str
    template_sha256: str
    git_commit: str | None
    model: str  # the baseline: the configured model
    judge_model: str
    evalset: str
    cases: int
    repeats: int
    temperature: float
    margin: float
    calls_per_month: int
    cached_input_fraction: float
    baseline: Baseline
    baseline_price: PriceFacts
    models: list[ModelFinding]
    recommendation: str | None  # the cheapest non-inferior candidate that costs less than the baseline
    usd_per_month_saved: float  # the recommendation's saving (0 without one)
    method: str
    warnings: list[str]
    run: TierRun
    created_at: str


TIER_SCHEMA_FILE = "schemas/tier.schema.json"  # inside the promptslim package


def tier_schema() -> dict[str, Any]:
    """The JSON Schema of tier.json, generated from the types above (shipped as package data)."""
    return document_schema(TierResult, TIER_SCHEMA_VERSION, TIER_SCHEMA_FILE, "promptslim tier.json")


def shipped_tier_schema() -> dict[str, Any]:
    return shipped(TIER_SCHEMA_FILE)


def write_tier_schema() -> Path:
    """Regenerate the shipped tier schema from the types (run after changing a result type)."""
    return write_shipped(TIER_SCHEMA_FILE, tier_schema())
