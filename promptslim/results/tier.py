"""reports/<name>/tier.json: the same prompt on cheaper models, each against the configured model; its JSON Schema."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptslim.jsontypes import FLAT, SchemaFile
from promptslim.results.models import ModelFinding, ModelRecommendation, ModelsSection
from promptslim.results.run import PriceFacts, RoleSpend, RunFacts, RunHeader
from promptslim.results.sections import Proven
from promptslim.results.variants import Baseline, ModelVerdict

TIER_SCHEMA_VERSION = 1
__all__ = ["TIER_SCHEMA_VERSION", "ModelFinding", "ModelRecommendation", "ModelVerdict", "TierResult", "TierRun",
           "shipped_tier_schema", "tier_schema", "write_tier_schema"]


@dataclass(frozen=True)
class TierRun(RoleSpend):
    """What the comparison spent (the configured model, the candidates, the judge), how long it took."""

    usd_candidates: float
    wall_seconds: float
    facts: RunFacts = field(metadata=FLAT)


@dataclass(frozen=True)
class TierResult(RunHeader):
    """reports/<name>/tier.json: the result of `promptslim tier`."""
    # `model` (in the header) is the baseline: the configured model

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

    def levers(self) -> dict[str, Proven | None]:
        """The saving this run proved, by lever (the reviewer index weighs it against ablation.json's)."""
        return {ModelsSection.lever: Proven(self.usd_per_month_saved, f"{self.recommendation} instead of {self.model}")
                if self.recommendation else None}


TIER_SCHEMA = SchemaFile(TierResult, TIER_SCHEMA_VERSION, "schemas/tier.schema.json", "promptslim tier.json")


tier_schema = TIER_SCHEMA.generate  # the JSON Schema of tier.json, generated from the types above
shipped_tier_schema = TIER_SCHEMA.shipped
write_tier_schema = TIER_SCHEMA.write  # regenerate the shipped file (run after changing a result type)
