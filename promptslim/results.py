"""Every engine's answer as frozen dataclasses: what eval, ablate, check and report return and write.

The field order is the key order of the JSON files (DESIGN.md), so a result read back writes the same
bytes. Renderers read these types, never a dict an engine built. ablation.json's JSON Schema is
generated from `AblationResult` and shipped as promptslim/schemas/ablation.schema.json
(`python -c "from promptslim.results import write_schema; write_schema()"` regenerates it; a test checks it
is current).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptslim.jsontypes import FLAT, OPTIONAL, JsonRecord, schema
from promptslim.stats import Estimate

SCHEMA_VERSION = 2


class Verdict(str, enum.Enum):
    """What a test of a removal concluded (DESIGN.md, in this order)."""

    REMOVABLE = "removable"  # non-inferior: lower bound of the score delta above −margin
    KEEP = "keep"  # removing it measurably hurts: upper bound below 0
    INCONCLUSIVE = "inconclusive"
    NONE = "none"  # the slim prompt only: no set of units was verified, nothing is removed

    def __str__(self) -> str:
        return self.value


# ---------------------------------------------------------------- run facts (every command that calls a model)
@dataclass(frozen=True)
class PriceFacts(JsonRecord):
    """Where one model's prices came from."""

    model: str
    source: str
    kind: str  # genai-prices | config | local
    data_version: str | None
    date: str | None


@dataclass(frozen=True)
class Prices(JsonRecord):
    """The price model's prices (all $ figures) and the judge's (part of the run's own spend)."""

    price_model: PriceFacts
    judge: PriceFacts | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class JudgeFacts(JsonRecord):
    """How the judge fared: answers judged, corrective re-asks, errors and why."""

    asked: int
    retries: int
    recovered: int
    errors: int
    truncated: int
    steps_retries: int
    json_mode_refused: bool
    generic_steps: bool
    error_reasons: list[str]


@dataclass(frozen=True)
class RoleFacts(JsonRecord):
    """One role's (target or judge) calls, cache hits, spend and faults."""

    calls: int
    cache_hits: int
    usd: float
    retries: int
    timeouts: int
    rate_limited: int
    server_errors: int
    other_errors: int
    truncated: int


@dataclass(frozen=True)
class ConcurrencyChange(JsonRecord):
    """One move of the adaptive concurrency limit."""

    t: float
    limit: int
    why: str


@dataclass(frozen=True)
class ConcurrencyFacts(JsonRecord):
    """A role's adaptive concurrency: where it started, the lowest it went, where it ended, every change."""

    start: int
    lowest: int
    end: int
    changes: list[ConcurrencyChange]
    changes_not_shown: int


@dataclass(frozen=True)
class RunFacts(JsonRecord):
    """What the run itself saw (laid out flat inside each report's `run`)."""

    answers: int
    truncated: int
    truncated_rate: float | None
    max_tokens: int | None
    retries: int
    timeouts: int
    rate_limited: int
    server_errors: int
    other_errors: int
    judge: JudgeFacts | None
    by_role: dict[str, RoleFacts]
    concurrency: dict[str, ConcurrencyFacts]


@dataclass(frozen=True)
class EvalRun(JsonRecord):
    """The spend of an eval run, with its run facts."""

    calls: int
    cache_hits: int
    usd: float
    usd_target: float
    usd_judge: float
    facts: RunFacts = field(metadata=FLAT)


@dataclass(frozen=True)
class AblationRun(JsonRecord):
    """The spend of an ablation, how long it took, when its saving pays for it, and its run facts."""

    calls: int
    cache_hits: int
    usd: float
    usd_target: float
    usd_judge: float
    judge_skipped_identical: int
    wall_seconds: float
    payback_hours: float | None
    facts: RunFacts = field(metadata=FLAT)


@dataclass(frozen=True)
class CheckRun(JsonRecord):
    """The spend of a check's evaluation, with its run facts."""

    calls: int
    cache_hits: int
    usd: float
    facts: RunFacts = field(metadata=FLAT)


# ---------------------------------------------------------------- eval
@dataclass(frozen=True)
class EvalCase(JsonRecord):
    """One case of `eval`: its score (mean over repeats), failed assertions, answers and the judge's words."""

    id: str
    score: float | None
    failures: list[str]
    judge_errors: int
    input_tokens: float
    output_tokens: float
    outputs: list[str]
    judge_reasons: list[str]
    judge_error_reasons: list[str]
    truncated: int


@dataclass(frozen=True)
class EvalSummary(JsonRecord):
    """The eval set's mean score with its CI, pass rate, tokens and money."""

    score: Estimate
    pass_rate: float | None
    passes: int
    graded: int
    judge_errors: int
    input_tokens: float
    output_tokens: float
    usd_per_call: float
    usd_per_month: float
    usd_per_usable_output: float | None
    answers: int
    truncated: int
    cache_hits: int


@dataclass(frozen=True)
class EvalResult(JsonRecord):
    """`promptslim eval --json`."""

    template: str
    evalset: str
    model: str
    judge_model: str
    price_model: str
    repeats: int
    threshold: float
    calls_per_month: int
    tokens_approximate: bool
    tokens_source: str
    tokens_note: str
    prices: Prices
    warnings: list[str]
    cases: list[EvalCase]
    summary: EvalSummary
    run: EvalRun
    judge_note: str | None


# ---------------------------------------------------------------- ablation.json
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
    answers: int
    truncated: int
    cache_hits: int
    tokens_source: str


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
    """One test of the slim sequence: the units removed together, its bounds, and whether it held."""

    removed: list[int]
    ci: list[float] | None
    verified: bool
    saves_money: bool
    judge_errors: SideErrors


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
    answers: int
    truncated: int
    cache_hits: int
    tokens_source: str


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

    @property
    def nothing_removable(self) -> bool:
        return not self.slim.removed or self.slim.verdict == Verdict.NONE


def ablation_schema() -> dict[str, Any]:
    """The JSON Schema of ablation.json, generated from the types above (shipped as package data)."""
    out = schema(AblationResult)
    out["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    out["$id"] = "https://promptslim.invalid/schemas/ablation.schema.json"
    out["title"] = "promptslim ablation.json"
    return out


# ---------------------------------------------------------------- check
@dataclass(frozen=True)
class CheckSide(JsonRecord):
    """One side (base or head) of a changed template: tokens, and quality and money when evaluated."""

    input_tokens: float
    input_tokens_max: int | float
    input_tokens_per_case: list[int | float]
    output_tokens: float | None
    score: float | None
    ci: list[float] | None
    n: int | None
    pass_rate: float | None
    usd_per_call: float
    usd_per_month: float
    includes_output: bool
    tokens_source: str
    answers: int
    truncated: int
    judge_errors: int


@dataclass(frozen=True)
class CheckErrors(JsonRecord):
    """Cases a judge error left out of the comparison, per side."""

    base: int
    head: int


@dataclass(frozen=True)
class Quality(JsonRecord):
    """The quality verdict on head − base: pass, regression, inconclusive or underpowered."""

    outcome: str
    delta: float | None
    ci: list[float | None] | None
    n: int
    sd: float | None
    min_detectable: float | None
    regression: bool
    judge_errors: CheckErrors


@dataclass(frozen=True)
class CaseScores(JsonRecord):
    """One eval case's score on each side."""

    id: str
    base_score: float | None
    head_score: float | None
    head_failures: list[str]


@dataclass(frozen=True)
class CheckRow(JsonRecord):
    """One changed template: figures of both sides, the quality verdict, the gates it failed."""

    template: str
    base_path: str | None
    status: str  # added | modified | renamed | deleted
    name: str
    evalset: str | None
    evalset_note: str | None
    cases: int
    calls_per_month: int
    max_input_tokens: int | None
    base: CheckSide | None
    head: CheckSide | None
    base_note: str | None
    evaluated: bool
    quality: Quality | None
    usd_per_month_delta: float | None
    usd_per_month_change_pct: float | None
    failures: list[str]
    failed: bool
    per_case: list[CaseScores]
    rendered_diff: str


@dataclass(frozen=True)
class Gates(JsonRecord):
    """The settings that decide failure: margin from the base revision, the rest from the command line."""

    margin: float
    fail_on_cost_increase: float | None
    allow_missing_evalset: bool
    require_noninferior: bool


@dataclass(frozen=True)
class UsdPerMtok(JsonRecord):
    """The price model's prices in USD per million tokens."""

    input: float
    cached_input: float
    output: float


@dataclass(frozen=True)
class ConfigChange(JsonRecord):
    """A setting the pull request changes: shown for review, not applied."""

    key: str
    base: Any
    head: Any


@dataclass(frozen=True)
class CheckResult(JsonRecord):
    """`promptslim check --json`; `failed` makes the command exit 1."""

    base: str
    base_sha: str
    no_eval: bool
    model: str
    judge_model: str
    price_model: str
    price_source: str
    prices: Prices
    tokens_source: str
    tokens_note: str
    warnings: list[str]
    usd_per_mtok: UsdPerMtok
    restricted_to: list[str] | None
    gates: Gates
    templates: list[CheckRow]
    failed: bool
    run: CheckRun | None
    config_changes: list[ConfigChange]


# ---------------------------------------------------------------- report (the reviewer index)
@dataclass(frozen=True)
class IndexAblation(JsonRecord):
    """What a template's latest ablation found, and whether the template changed since."""

    path: str
    units: int
    removable: list[int]
    slim_removed: list[int]
    slim_input_tokens: float | None
    slim_verdict: str | None
    usd_per_month_saved: float | None
    created_at: str | None
    git_commit: str | None
    model: str | None
    template_sha256: str | None
    baseline_output_tokens: float | None
    stale: bool


@dataclass(frozen=True)
class IndexEntry(JsonRecord):
    """One template: what it costs per month now, and its ablation."""

    template: str
    name: str
    model: str
    template_sha256: str
    input_tokens: float | None
    output_tokens: float
    tokens_approximate: bool
    rendered_with: str
    calls_per_month: int
    usd_per_call: float | None
    usd_per_month: float | None
    ablation: IndexAblation | None


@dataclass(frozen=True)
class IndexTotals(JsonRecord):
    """Sums over every template."""

    usd_per_month_now: float
    usd_per_month_removable: float
    templates: int
    ablated: int
    stale: int


@dataclass(frozen=True)
class IndexResult(JsonRecord):
    """`promptslim report --json`: every template's cost and saving."""

    entries: list[IndexEntry]
    totals: IndexTotals
    model: str
    price_source: str


SCHEMA_FILE = "schemas/ablation.schema.json"


def shipped_schema() -> dict[str, Any]:
    """The JSON Schema file installed with the package."""
    import json
    from importlib.resources import files

    return json.loads(files("promptslim").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))



def write_schema() -> Path:
    """Regenerate the shipped schema file from the types (run after changing a result type)."""
    import json

    path = Path(__file__).parent / SCHEMA_FILE
    path.write_text(json.dumps(ablation_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
