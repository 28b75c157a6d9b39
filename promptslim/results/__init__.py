"""Every engine's answer as frozen dataclasses: what eval, ablate, tier, check and report return and write.

The field order is the key order of the JSON files (DESIGN.md), so a result read back writes the same
bytes. Renderers read these types, never a dict an engine built. ablation.json's JSON Schema is
generated from `AblationResult` and every lever's `Section` and shipped as promptslim/schemas/ablation.schema.json
(`python -c "from promptslim.results import write_schema; write_schema()"` regenerates it; a test checks
it is current). Every module of this package is loaded here, so each lever's section is registered.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from promptslim.results.ablation import (SCHEMA_VERSION, AblationResult, Baseline, Power, SideErrors, SlimFinding,
                                         SlimStep, UnitFinding, VariantFacts, Verdict, ablation_schema, shipped_schema,
                                         write_schema)
from promptslim.results.check import (AblateComparison, CaseScores, CheckResult, CheckRow, CheckSide, ConfigChange,
                                      EvalsetChanges, Gates, HeadCases, Quality, UsdPerMtok)
from promptslim.results.eval import AnswerCounts, EvalCase, EvalResult, EvalSummary
from promptslim.results.index import IndexAblation, IndexEntry, IndexResult, IndexTotals, Lever
from promptslim.results.run import (AblationRun, BatchFacts, CheckRun, ConcurrencyChange, ConcurrencyFacts, EvalRun,
                                    JudgeFacts, PriceFacts, Prices, RoleFacts, RoleSpend, RunFacts, Spend)
from promptslim.results.sections import Proven, Section, section_types
from promptslim.results.tier import (TIER_SCHEMA_VERSION, TierResult, TierRun, shipped_tier_schema, tier_schema,
                                     write_tier_schema)

for _module in _pkgutil.iter_modules(__path__):  # the levers' result modules register their sections
    _importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "SCHEMA_VERSION", "AblationResult", "Baseline", "Power", "SideErrors", "SlimFinding", "SlimStep", "UnitFinding",
    "VariantFacts", "Verdict", "ablation_schema", "shipped_schema", "write_schema",
    "AblateComparison", "CaseScores", "CheckResult", "CheckRow", "CheckSide", "ConfigChange", "EvalsetChanges", "Gates",
    "HeadCases", "Quality", "UsdPerMtok",
    "AnswerCounts", "EvalCase", "EvalResult", "EvalSummary",
    "IndexAblation", "IndexEntry", "IndexResult", "IndexTotals", "Lever",
    "AblationRun", "BatchFacts", "CheckRun", "ConcurrencyChange", "ConcurrencyFacts", "EvalRun", "JudgeFacts", "PriceFacts",
    "Prices", "RoleFacts", "RoleSpend", "RunFacts", "Spend", "Proven", "Section", "section_types",
    "TIER_SCHEMA_VERSION", "TierResult", "TierRun", "shipped_tier_schema", "tier_schema", "write_tier_schema",
]
