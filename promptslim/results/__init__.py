"""Every engine's answer as frozen dataclasses: what eval, ablate, check and report return and write.

The field order is the key order of the JSON files (DESIGN.md), so a result read back writes the same
bytes. Renderers read these types, never a dict an engine built. ablation.json's JSON Schema is
generated from `AblationResult` and shipped as promptslim/schemas/ablation.schema.json
(`python -c "from promptslim.results import write_schema; write_schema()"` regenerates it; a test checks
it is current).
"""

from promptslim.results.ablation import (SCHEMA_VERSION, AblationResult, Baseline, Power, SideErrors, SlimFinding,
                                         SlimStep, UnitFinding, VariantFacts, Verdict, ablation_schema, shipped_schema,
                                         write_schema)
from promptslim.results.check import (CaseScores, CheckResult, CheckRow, CheckSide, ConfigChange, EvalsetChanges,
                                      Gates, HeadCases, Quality, UsdPerMtok)
from promptslim.results.eval import AnswerCounts, EvalCase, EvalResult, EvalSummary
from promptslim.results.index import IndexAblation, IndexEntry, IndexResult, IndexTotals, Lever
from promptslim.results.tier import (TIER_SCHEMA_VERSION, ModelFinding, ModelRecommendation, ModelVerdict, TierResult, TierRun,
                                     shipped_tier_schema, tier_schema, write_tier_schema)
from promptslim.results.run import (AblationRun, BatchFacts, CheckRun, ConcurrencyChange, ConcurrencyFacts, EvalRun,
                                    JudgeFacts, PriceFacts, Prices, RoleFacts, RoleSpend, RunFacts, Spend)

__all__ = [
    "SCHEMA_VERSION", "AblationResult", "Baseline", "Power", "SideErrors", "SlimFinding", "SlimStep", "UnitFinding",
    "VariantFacts", "Verdict", "ablation_schema", "shipped_schema", "write_schema",
    "CaseScores", "CheckResult", "CheckRow", "CheckSide", "ConfigChange", "EvalsetChanges", "Gates",
    "HeadCases", "Quality", "UsdPerMtok",
    "AnswerCounts", "EvalCase", "EvalResult", "EvalSummary",
    "IndexAblation", "IndexEntry", "IndexResult", "IndexTotals", "Lever",
    "AblationRun", "BatchFacts", "CheckRun", "ConcurrencyChange", "ConcurrencyFacts", "EvalRun", "JudgeFacts", "PriceFacts",
    "Prices", "RoleFacts", "RoleSpend", "RunFacts", "Spend",
    "TIER_SCHEMA_VERSION", "ModelFinding", "ModelRecommendation", "ModelVerdict", "TierResult", "TierRun", "shipped_tier_schema",
    "tier_schema", "write_tier_schema",
]
