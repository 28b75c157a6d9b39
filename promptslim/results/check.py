"""`promptslim check --json`: per changed template, both sides' figures, the quality verdict and the gates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptslim.jsontypes import OPTIONAL, JsonRecord
from promptslim.results.headroom import Headroom
from promptslim.results.run import CheckRun, Prices
from promptslim.results.models import ModelFinding


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
    output_basis: str = ""  # measured | estimated | not included (promptslim/cost/figure.py); "" in older files
    output_note: str = ""
    # against a constant answer, and per-label pass rates (when graded by assertions alone)
    headroom: Headroom | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class Quality(JsonRecord):
    """The quality verdict on head − base: pass, regression, likely-regression, inconclusive or underpowered;
    `regression` is true for both regression outcomes (each fails the check)."""

    outcome: str
    delta: float | None
    ci: list[float | None] | None
    n: int
    sd: float | None
    min_detectable: float | None
    regression: bool
    judge_errors: dict[str, int]  # cases a judge error left out of the comparison: {"base": n, "head": n}


@dataclass(frozen=True)
class AblateComparison(JsonRecord):
    """The head is the base without a unit (or without the slim prompt's units) that the latest ablation of the base
    text decided otherwise: ablate corrects for its K comparisons (Holm), check tests one change."""

    removed: list[int]  # the units the head removes
    text: str  # the removed unit's text (the first one's, for a set)
    ablate_verdict: str  # removable | keep | inconclusive (a unit's, or the slim prompt's)
    check_verdict: str  # the same three words for check's outcome (pass = removable, regression = keep)
    units: int  # K: how many removals the ablation tested together
    created_at: str


@dataclass(frozen=True)
class CaseScores(JsonRecord):
    """One eval case's score on each side."""

    id: str
    base_score: float | None
    head_score: float | None
    head_failures: list[str]


@dataclass(frozen=True)
class HeadCases(JsonRecord):
    """The head template on the pull request's added or changed cases, graded by its own eval set: for the
    reviewer, never the gate (nothing from a PR may decide its own gate)."""

    cases: list[str]
    usable: int  # answers at or above the head eval set's threshold
    graded: int  # answers the grader could score (a judge error leaves one out)
    score: float | None
    ci: list[float] | None
    n: int | None


@dataclass(frozen=True)
class EvalsetChanges(JsonRecord):
    """What the pull request changes in a template's eval set, by case id: shown for review, not applied."""

    base_path: str
    head_path: str | None  # None: the head has no eval set for this template
    added: list[str]
    removed: list[str]
    changed: list[str]  # same id, different vars, input, expected or assert
    settings: "list[ConfigChange]"  # criteria, threshold, steps
    head_cases: HeadCases | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class CheckRow(JsonRecord):
    """One changed template: figures of both sides, the quality verdict, the gates it failed."""

    template: str
    base_path: str | None
    status: str  # added | modified | renamed | copied | deleted
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
    # check --also-model: the head on cheaper models against the head on the configured model (a hint, never a gate)
    also_models: "list[ModelFinding] | None" = field(default=None, metadata=OPTIONAL)
    cheaper_model: str | None = field(default=None, metadata=OPTIONAL)
    cheaper_model_usd_per_month_saved: float | None = field(default=None, metadata=OPTIONAL)
    # which revision's eval set graded both sides: "base" whenever the base has one; "head" only when it has none
    evalset_revision: str | None = None
    evalset_changes: EvalsetChanges | None = field(default=None, metadata=OPTIONAL)
    # the margin that decided this row's quality: the template's own when the base config sets one, else Gates.margin
    margin: float | None = None
    margin_source: str = ""
    # the head removes what the base text's latest ablation decided otherwise (a note for the reviewer, never a gate)
    ablate: AblateComparison | None = field(default=None, metadata=OPTIONAL)
    # how a renamed, copied or replacing template was matched to the base, for the reviewer
    review_note: str | None = field(default=None, metadata=OPTIONAL)


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
    local_model: str | None = None  # the embedded model's name when it answered: check.md says so
