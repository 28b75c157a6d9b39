"""`promptslim eval --json`: per-case rows, the summary and the run."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptslim.jsontypes import FLAT, OPTIONAL, JsonRecord
from promptslim.results.headroom import Headroom
from promptslim.results.run import EvalRun, Prices
from promptslim.stats import Estimate


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
class AnswerCounts(JsonRecord):
    """A variant's answers: how many, how many stopped at max_tokens, how many came from the cache."""

    answers: int
    truncated: int
    cache_hits: int


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
    counts: AnswerCounts = field(metadata=FLAT)


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
    # the template against a constant answer, and per-label pass rates (absent when a judge grades)
    headroom: Headroom | None = field(default=None, metadata=OPTIONAL)
