"""Run a template variant over its eval set and grade every answer: the score the ablation compares."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

from promptslim.assertions import failures
from promptslim.config import LOCAL_MAX_TOKENS, Config, TemplateSettings
from promptslim.cost.figure import cost_of, measured
from promptslim.evalset import Case, EvalSet
from promptslim.judge import Judge
from promptslim.llm.base import Completion, Message, Params, cache_key
from promptslim.llm.runner import Runner, candidate_role
from promptslim.cost.caching import Prefix, shared_prefix
from promptslim.cost.prices import LOCAL, Price, price_for
from promptslim.results import AnswerCounts, EvalSummary
from promptslim.stats import mean_ci
from promptslim.template.load import Template
from promptslim.tokens import count_messages, count_text

__all__ = ["LOCAL_MAX_TOKENS", "NONE", "CaseResult", "Evaluator", "Models", "Sample", "Summary", "VariantResult"]
NONE = "none"  # no judge: assertions alone grade


@dataclass(frozen=True)
class Models:
    """Who answers, who judges, and whose prices the monthly figures use."""

    model: str
    judge_model: str  # "none" = assertions only
    price_model: str
    notices: tuple[str, ...] = field(default_factory=tuple)

    @property
    def local(self) -> bool:
        return self.model == LOCAL

    @property
    def judge_is_local(self) -> bool:
        return self.judge_model == LOCAL


@dataclass(frozen=True)
class Sample:
    """One answer to one case: exact input tokens, reported output tokens, and its grade."""

    output: str
    input_tokens: int
    output_tokens: int
    score: float | None
    failures: tuple[str, ...]
    judge_error: str | None = None
    judge_reason: str = ""
    truncated: bool = False  # the answer stopped at max_tokens (finish_reason: length)
    cached: bool = False  # the answer came from the response cache
    tokens_source: str = "estimated"  # of input_tokens: exact | server-reported | estimated


@dataclass(frozen=True)
class CaseResult:
    """A case's samples; its score is the mean over samples the judge could grade."""

    case_id: str
    samples: tuple[Sample, ...]

    @property
    def score(self) -> float | None:
        scores = [s.score for s in self.samples if s.score is not None]
        return sum(scores) / len(scores) if scores else None

    @property
    def input_tokens(self) -> float:
        return sum(s.input_tokens for s in self.samples) / len(self.samples)

    @property
    def output_tokens(self) -> float:
        return sum(s.output_tokens for s in self.samples) / len(self.samples)

    @property
    def failures(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for sample in self.samples:
            for reason in sample.failures:
                seen.setdefault(reason, None)
        return tuple(seen)

    @property
    def judge_errors(self) -> int:
        return sum(1 for s in self.samples if s.judge_error)


@dataclass(frozen=True)
class Summary(EvalSummary):
    """Everything `eval` prints under the table (money at the price model's list prices), and how the input
    tokens were counted."""

    tokens_approximate: bool = False
    tokens_source: str = "estimated"


@dataclass(frozen=True)
class VariantResult:
    cases: tuple[CaseResult, ...]
    summary: Summary

    def scores(self) -> list[float | None]:
        return [c.score for c in self.cases]


@dataclass
class Evaluator:
    """Binds a template, its eval set, the models and the runner; evaluates any variant source."""

    template: Template
    evalset: EvalSet
    runner: Runner
    models: Models
    config: Config
    price: Price  # the price model's, for $/call and $/month projections (a variant on another model: its own)
    repeats: int = 1
    calls_per_month: int = 0
    judge: Judge | None = None
    on_case: Callable[[], None] | None = None
    settings: TemplateSettings | None = None  # None: resolved from the config (no flags)
    _messages: dict[str, list[list[Message]]] = field(default_factory=dict)
    _tokens: dict[str, list[int]] = field(default_factory=dict)
    _graded: dict[tuple[str, str], Sample] = field(default_factory=dict)
    _prices: dict[str, Price] = field(default_factory=dict)
    _prefixes: dict[tuple[str, str], Prefix] = field(default_factory=dict)
    judge_skipped: int = 0
    answers_seen: int = 0  # every answer this evaluator graded in this run (cached ones included)
    truncated_seen: int = 0

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = self.config.settings(self.template.name, calls_per_month=self.calls_per_month,
                                                 local=self.models.local)

    @property
    def temperature(self) -> float:
        """The configured temperature, repeats or not: the ablation must measure the setting that ships."""
        return self.config.temperature

    def messages(self, source: str) -> list[list[Message]]:
        """Rendered messages per case for a variant source; rendering errors surface before any call."""
        if source not in self._messages:
            self._messages[source] = [self.template.render(c.vars, c.input, c.where(self.evalset.path), source=source)
                                      for c in self.evalset.cases]
        return self._messages[source]

    def price_model(self, model: str | None = None) -> str:
        """Whose tokenizer and prices a variant's figures use: the price model, or the variant's own model."""
        return self.models.price_model if model is None or model == self.models.model else model

    def price_of(self, model: str | None = None) -> Price:
        """A variant is priced at its own model's price; the model under test at the price model's."""
        name = self.price_model(model)
        if name == self.models.price_model:
            return self.price
        if name not in self._prices:
            self._prices[name] = price_for(name, self.config, self_hosted_free=False)  # a candidate model
        return self._prices[name]

    def input_tokens(self, source: str, model: str | None = None) -> list[int]:
        """Exact input tokens per case for a variant, counted once (the plan and every sample share them)."""
        key = source if model is None else f"{self.price_model(model)}\0{source}"
        if key not in self._tokens:
            self._tokens[key] = [count_messages(m, self.price_model(model)).tokens for m in self.messages(source)]
        return self._tokens[key]

    def params(self, sample: int, model: str | None = None) -> Params:
        assert self.settings is not None
        return Params(model=model or self.models.model, temperature=self.temperature,
                      max_tokens=self.settings.max_tokens.value, sample=sample)

    def role(self, model: str | None = None) -> str:
        """The runner role a variant's calls go through: a candidate model's own (endpoint, price), else target."""
        own = None if model is None else candidate_role(model)
        return own if own in self.runner.roles else "target"

    def pending_calls(self, source: str, model: str | None = None) -> int:
        """Target calls for this variant that the cache cannot answer (for the plan)."""
        store = self.runner.store
        endpoint = self.runner.roles[self.role(model)].backend.endpoint
        missing = 0
        for messages in self.messages(source):
            for r in range(self.repeats):
                if store is None or not self.runner.use_cache or store.get(
                        cache_key(endpoint, messages, self.params(r, model))) is None:
                    missing += 1
        return missing

    async def run(self, source: str, indices: list[int] | None = None, model: str | None = None) -> VariantResult:
        """Evaluate a variant on all cases, or on `indices` only (the two-stage design's halves), in that order."""
        all_messages = self.messages(source)
        tokens = self.input_tokens(source, model)
        wanted = list(range(len(all_messages))) if indices is None else list(indices)
        # Issue calls grouped by rendered prompt: a local model then reuses its cached prompt prefix.
        order = sorted(range(len(wanted)), key=lambda j: [m["content"] for m in all_messages[wanted[j]][:-1]])
        done = await self.runner.gather(self._case(self.evalset.cases[wanted[j]], all_messages[wanted[j]],
                                                   tokens[wanted[j]], model) for j in order)
        results: list = [None] * len(order)
        for j, result in zip(order, done):
            results[j] = result
        return VariantResult(tuple(results), self.summarize(results, model, source))

    async def _case(self, case: Case, messages: list[Message], input_tokens: int, model: str | None) -> CaseResult:
        samples = await asyncio.gather(*(self._sample(case, messages, input_tokens, r, model)
                                         for r in range(self.repeats)))
        if self.on_case:
            self.on_case()
        return CaseResult(case.id, tuple(samples))

    def token_source(self, estimate: int, completion: Completion, model: str | None = None) -> tuple[int, str]:
        """Input tokens from the best source: our exact count where the tokenizer is public, else the count the
        endpoint reported (usage.prompt_tokens), else our o200k estimate."""
        if self.models.local:  # the embedded model stands in for the priced model: its own count is not that one's
            return estimate, "estimated"
        if not count_messages([], self.price_model(model)).approximate:
            return estimate, "exact"
        if completion.prompt_tokens > 0:
            return completion.prompt_tokens, "server-reported"
        return estimate, "estimated"

    async def _sample(self, case: Case, messages: list[Message], estimate: int, r: int,
                      model: str | None = None) -> Sample:
        completion = await self.runner.complete(self.role(model), messages, self.params(r, model))
        text = completion.text
        input_tokens, source = self.token_source(estimate, completion, model)
        self.answers_seen += 1
        self.truncated_seen += completion.finish_reason == "length"
        output_tokens = completion.completion_tokens or (count_text(text, self.price_model(model)) if text else 0)
        facts = {"truncated": completion.finish_reason == "length", "cached": completion.from_cache,
                 "tokens_source": source}
        failed = tuple(failures(case.asserts, text, self.price_model(model)))
        if failed:
            return Sample(text, input_tokens, output_tokens, 0.0, failed, **facts)
        if self.judge is None:
            return Sample(text, input_tokens, output_tokens, 1.0, (), **facts)
        known = self._graded.get((case.id, text))
        if known is not None:  # byte-identical answer to this case: the score is known, the judge is not asked
            self.judge_skipped += 1
            return Sample(text, input_tokens, output_tokens, known.score, (), known.judge_error, known.judge_reason,
                          **facts)
        user_input = case.input if case.input is not None else messages[-1]["content"]
        verdict = await self.judge.score(user_input, text, case.expected)
        sample = Sample(text, input_tokens, output_tokens, verdict.score, (), verdict.error, verdict.reason, **facts)
        if verdict.error is None:
            self._graded[(case.id, text)] = sample
        return sample

    def prefix_of(self, source: str, model: str | None = None) -> Prefix:
        """The static prefix every case of a variant shares: what the provider's prompt cache can serve."""
        key = (source, self.price_model(model))
        if key not in self._prefixes:
            self._prefixes[key] = shared_prefix(self.messages(source), key[1])
        return self._prefixes[key]

    def summarize(self, cases: list[CaseResult] | tuple[CaseResult, ...], model: str | None = None,
                  source: str | None = None) -> Summary:
        """Scores and figures of a variant's cases; with its source, $ figures model the provider's prompt cache."""
        scores = [c.score for c in cases if c.score is not None]
        samples = [s for c in cases for s in c.samples]
        graded = [s for s in samples if s.score is not None]
        passes = sum(1 for s in graded if s.score >= self.evalset.threshold)
        input_tokens = sum(s.input_tokens for s in samples) / len(samples) if samples else 0.0
        output_tokens = sum(s.output_tokens for s in samples) / len(samples) if samples else 0.0
        figure = cost_of(self.price_of(model), input_tokens, measured(output_tokens),
                         self.config.prompt(self.template.name), self.calls_per_month,
                         self.prefix_of(source, model) if source is not None else None)
        per_call = figure.usd_per_call
        total = per_call * len(samples)
        return Summary(
            score=mean_ci(scores),
            pass_rate=passes / len(graded) if graded else None,
            passes=passes,
            graded=len(graded),
            judge_errors=sum(1 for s in samples if s.judge_error),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            usd_per_call=per_call,
            usd_per_month=figure.usd_per_month,
            usd_per_usable_output=total / passes if passes else None,
            tokens_approximate=_tokens_source(samples, self, model) == "estimated",
            counts=AnswerCounts(answers=len(samples), truncated=sum(1 for s in samples if s.truncated),
                                cache_hits=sum(1 for s in samples if s.cached)),
            tokens_source=_tokens_source(samples, self, model),
        )


def _tokens_source(samples: list[Sample], ev: Evaluator, model: str | None = None) -> str:
    """One source for a variant: a single estimated sample makes its mean an estimate."""
    sources = {s.tokens_source for s in samples}
    if not sources:  # nothing ran: what this model's counts would be
        return "estimated" if ev.models.local or count_messages([], ev.price_model(model)).approximate else "exact"
    if "estimated" in sources:
        return "estimated"
    return "server-reported" if "server-reported" in sources else "exact"
