"""reports/<name>/ablation.json: baseline, unit findings, the slim prompt, power and the run, then the sections of
the other levers that ran; its JSON Schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from promptslim.jsontypes import FLAT, OPTIONAL, JsonRecord, SchemaFile
from promptslim.jsontypes import sections as section_fields
from promptslim.results.headroom import Headroom
from promptslim.results.run import AblationRun, Prices, RunHeader
from promptslim.results.sections import Proven, Section, section_types
from promptslim.results.variants import Baseline, SideErrors, SlimStep, VariantFacts, Verdict

SCHEMA_VERSION = 2
S = TypeVar("S", bound=Section)
__all__ = ["SCHEMA_VERSION", "AblationResult", "Baseline", "Power", "SideErrors", "SlimFinding", "SlimStep",
           "UnitFinding", "VariantFacts", "Verdict", "ablation_schema", "shipped_schema", "write_schema"]


@dataclass(frozen=True)
class UnitFinding(JsonRecord):
    """What removing one unit did against the baseline on the same cases, and the verdict."""

    id: int
    line: int
    text: str
    tokens: int
    input_tokens_saved: float
    output_tokens_delta: float
    score_delta: float | None
    ci: list[float] | None
    n: int
    verdict: Verdict
    p_value: float
    holm_level: float
    stage: int
    judge_errors: SideErrors
    truncated: int
    answers: int
    usd_per_call_saved: float
    usd_per_month_saved: float


@dataclass(frozen=True)
class SlimFinding(JsonRecord):
    """The slim prompt that ships: the last set of the sequence that held and saved money."""

    removed: list[int]
    restored: list[int]
    path: str
    input_tokens: float
    output_tokens: float
    input_tokens_saved: float
    output_tokens_delta: float
    score: float | None
    score_delta: float | None
    ci: list[float] | None
    n: int
    verdict: Verdict
    usd_per_call_saved: float
    usd_per_month_saved: float
    steps: list[SlimStep]
    judge_errors: int
    facts: VariantFacts = field(metadata=FLAT)


@dataclass(frozen=True)
class Power(JsonRecord):
    """What this eval set can decide: the planning figures every inconclusive comes with."""

    cases: int
    units: int
    min_cases_unchanged: int
    median_delta_sd: float | None
    cases_for_80pct_power: int | None
    min_detectable_margin: float | None


@dataclass(frozen=True)
class AblationResult(RunHeader):
    """reports/<name>/ablation.json: the machine-readable result of `promptslim ablate`."""

    tokens_approximate: bool
    tokens_source: str
    unit_tokens_approximate: bool
    tokens_note: str
    prices: Prices
    warnings: list[str]
    baseline: Baseline
    units: list[UnitFinding]
    slim: SlimFinding
    run: AblationRun
    power: Power
    price_model: str
    judge_note: str | None
    created_at: str
    method: str
    inconclusive_hint: str | None
    pinned: list[int]
    # the baseline against a constant answer, and per-label pass rates (absent when a judge grades)
    headroom: Headroom | None = field(default=None, metadata=OPTIONAL)
    # the other levers that ran (say it shorter, cheaper model, …): each one's keys, present only when it ran
    sections: tuple[Section, ...] = field(default=(), metadata=section_fields(section_types))

    @property
    def nothing_removable(self) -> bool:
        return not self.slim.removed or self.slim.verdict != Verdict.REMOVABLE

    def section(self, kind: type[S]) -> S | None:
        """The section a lever added, or None when it did not run."""
        return next((s for s in self.sections if isinstance(s, kind)), None)

    def levers(self) -> dict[str, Proven | None]:
        """The saving each lever of this run proved (None: it ran and proved none), removal first."""
        removed = self.slim
        out: dict[str, Proven | None] = {"remove": Proven(
            removed.usd_per_month_saved, f"remove units {', '.join(map(str, removed.removed))}")
            if removed.removed and removed.verdict == Verdict.REMOVABLE else None}
        for s in self.sections:
            if s.lever:
                out[s.lever] = s.proven(self.model)
        return out


ABLATION_SCHEMA = SchemaFile(AblationResult, SCHEMA_VERSION, "schemas/ablation.schema.json", "promptslim ablation.json")


ablation_schema = ABLATION_SCHEMA.generate  # the JSON Schema of ablation.json, every registered section included
shipped_schema = ABLATION_SCHEMA.shipped  # the schema file installed with the package
write_schema = ABLATION_SCHEMA.write  # regenerate the shipped file (run after changing a result type)
