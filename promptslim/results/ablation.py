"""reports/<name>/ablation.json: baseline, unit findings, the slim prompt, power and the run; its JSON Schema."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptslim.jsontypes import FLAT, OPTIONAL, JsonRecord, document_schema, shipped, write_shipped
from promptslim.results.eval import AnswerCounts
from promptslim.results.run import AblationRun, Prices

SCHEMA_VERSION = 2


class Verdict(str, enum.Enum):
    """What a test of a removal concluded (DESIGN.md, in this order)."""

    REMOVABLE = "removable"  # non-inferior: lower bound of the score delta above −margin
    KEEP = "keep"  # removing it measurably hurts: upper bound below 0
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class VariantFacts(AnswerCounts):
    """A variant's own run facts: its answers (cut, cached) and how its input tokens were counted."""

    tokens_source: str


@dataclass(frozen=True)
class Baseline(JsonRecord):
    """The template as it is, over the whole eval set: the figures every variant is compared with."""

    input_tokens: float
    output_tokens: float
    score: float | None
    ci: list[float] | None
    n: int
    se: float | None
    pass_rate: float | None
    judge_errors: int
    usd_per_call: float
    usd_per_month: float
    usd_per_usable_output: float | None
    facts: VariantFacts = field(metadata=FLAT)


@dataclass(frozen=True)
class SideErrors(JsonRecord):
    """Cases left out of the paired deltas because the judge failed on that side."""

    baseline: int
    variant: int


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
class SlimStep(JsonRecord):
    """One test of the slim sequence: the units removed together, its bounds, and whether it held.

    `stage` (issue 28) when the eval set is split: 1 = the search on the stage-1 cases (`verified` then means the
    search kept the set; nothing is claimed from it), 2 = the verification on the held-out stage-2 cases. Absent
    when every step ran on every case."""

    removed: list[int]
    ci: list[float] | None
    verified: bool
    saves_money: bool
    judge_errors: SideErrors
    stage: int | None = field(default=None, metadata=OPTIONAL)


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
class AblationResult(JsonRecord):
    """reports/<name>/ablation.json: the machine-readable result of `promptslim ablate`."""

    schema_version: int
    template: str
    template_sha256: str
    git_commit: str | None
    model: str
    judge_model: str
    evalset: str
    cases: int
    repeats: int
    temperature: float
    margin: float
    calls_per_month: int
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
    # say it shorter (ablate --rewrite): present only when run
    rewrites: "list[RewriteFinding] | None" = field(default=None, metadata=OPTIONAL)
    rewrites_refused: "list[RefusedRewrite] | None" = field(default=None, metadata=OPTIONAL)
    rewritten: "RewrittenPrompt | None" = field(default=None, metadata=OPTIONAL)
    # same prompt, cheaper model (ablate --also-model): present only when run
    models: "list[ModelFinding] | None" = field(default=None, metadata=OPTIONAL)
    model_recommendation: "ModelRecommendation | None" = field(default=None, metadata=OPTIONAL)

    @property
    def nothing_removable(self) -> bool:
        return not self.slim.removed or self.slim.verdict != Verdict.REMOVABLE


from promptslim.results.rewrites import RefusedRewrite, RewriteFinding, RewrittenPrompt  # noqa: E402
from promptslim.results.tier import ModelFinding, ModelRecommendation  # noqa: E402


SCHEMA_FILE = "schemas/ablation.schema.json"  # inside the promptslim package


def ablation_schema() -> dict[str, Any]:
    """The JSON Schema of ablation.json, generated from the types above (shipped as package data)."""
    return document_schema(AblationResult, SCHEMA_VERSION, SCHEMA_FILE, "promptslim ablation.json")


def shipped_schema() -> dict[str, Any]:
    """The JSON Schema file installed with the package."""
    return shipped(SCHEMA_FILE)


def write_schema() -> Path:
    """Regenerate the shipped schema file from the types (run after changing a result type)."""
    return write_shipped(SCHEMA_FILE, ablation_schema())
