"""What a run saw and spent, laid out inside every report's `run` object (and its prices)."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptslim.jsontypes import FLAT, OPTIONAL, JsonRecord


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
class BatchFacts(JsonRecord):
    """With --batch: the batches this run submitted or resumed, and the price each role's calls were billed at."""

    submitted: list[str]
    resumed: list[str]
    price: dict[str, PriceFacts]


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
    batch: BatchFacts | None = field(default=None, metadata=OPTIONAL)  # present only with --batch


@dataclass(frozen=True)
class Spend(JsonRecord):
    """What a run spent: API calls, answers from the cache, USD."""

    calls: int
    cache_hits: int
    usd: float


@dataclass(frozen=True)
class RoleSpend(Spend):
    """A run's spend, split into the model under test and the judge."""

    usd_target: float
    usd_judge: float


@dataclass(frozen=True)
class EvalRun(RoleSpend):
    """The spend of an eval run, with its run facts."""

    facts: RunFacts = field(metadata=FLAT)


@dataclass(frozen=True)
class AblationRun(RoleSpend):
    """The spend of an ablation, how long it took, when its saving pays for it, and its run facts."""

    judge_skipped_identical: int
    wall_seconds: float
    payback_hours: float | None
    facts: RunFacts = field(metadata=FLAT)


@dataclass(frozen=True)
class CheckRun(Spend):
    """The spend of a check's evaluation, with its run facts."""

    facts: RunFacts = field(metadata=FLAT)


@dataclass(frozen=True)
class RunHeader(JsonRecord):
    """What ablation.json and tier.json open with: the template and its hash, the commit, the models, the eval set and
    the settings the run used (engine/record.py header)."""

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
