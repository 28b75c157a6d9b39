"""The run record, assembled in one place for every command: what the run spent (by role), what it saw (judge
errors, truncation, retries and timeouts, cache hits, the adaptive concurrency, batches), where its prices came
from, how tokens were counted, and the warnings those facts call for; and the header every report file opens with.

A figure is only as good as the run behind it: a truncated answer can fail an assertion for reasons
that have nothing to do with the prompt, and a hand-entered price must not read as a list price.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from promptslim.engine.evaluator import Evaluator, Models, Summary
from promptslim.gitutil import head_commit
from promptslim.results import (Baseline, BatchFacts, ConcurrencyFacts, JudgeFacts, PriceFacts, Prices, RoleFacts,
                                RunFacts, VariantFacts)
from promptslim.tokens import encoding_for

if TYPE_CHECKING:
    from promptslim.cost.prices import Price
    from promptslim.judge import Judge
    from promptslim.llm.runner import Runner

TRUNCATION_WARNING = 0.05  # share of answers cut at max_tokens above which every report warns


@dataclass(frozen=True)
class Record:
    """One run's record: its spend by role, its facts, its prices, and the warnings the facts call for."""

    calls: int
    cache_hits: int
    usd: float
    usd_target: float
    usd_judge: float
    facts: RunFacts
    prices: Prices
    warnings: list[str]

    def role_spend(self) -> dict[str, Any]:
        """The fields every report's `run` object opens with (results.RoleSpend)."""
        return {"calls": self.calls, "cache_hits": self.cache_hits, "usd": self.usd, "usd_target": self.usd_target,
                "usd_judge": self.usd_judge}


def record(runner: "Runner", evaluators: Iterable[Evaluator], models: Models, price: "Price", *,
           max_tokens: int | None) -> Record:
    """The record of a run: every evaluator that graded on this runner, and the price model's price."""
    evaluators = list(evaluators)
    facts = run_facts(runner, evaluators, [ev.judge for ev in evaluators if ev.judge is not None],
                      max_tokens=max_tokens, local=models.local)
    judge = runner.roles.get("judge")
    return Record(calls=runner.api_calls, cache_hits=runner.cache_hits, usd=runner.spent,
                  usd_target=runner.totals["target"].usd,
                  usd_judge=runner.totals["judge"].usd if "judge" in runner.totals else 0.0,
                  facts=facts, prices=price_facts(price, judge.price if judge else None),
                  warnings=warnings(facts, models.local))


def record_of(ev: Evaluator) -> Record:
    """The record of a run with one evaluator (eval, ablate, tier)."""
    return record(ev.runner, [ev], ev.models, ev.price, max_tokens=ev.params(0).max_tokens)


def header(ev: Evaluator, margin: float) -> dict[str, Any]:
    """What ablation.json and tier.json open with: the template and its hash, the commit, models, eval set, settings."""
    return {"template": ev.template.rel, "template_sha256": hashlib.sha256(ev.template.source.encode()).hexdigest(),
            "git_commit": head_commit(ev.config.root), "model": ev.models.model, "judge_model": ev.models.judge_model,
            "evalset": ev.evalset.path, "cases": len(ev.evalset.cases), "repeats": ev.repeats,
            "temperature": ev.temperature, "margin": margin, "calls_per_month": ev.calls_per_month}


def variant_facts(s: Summary) -> VariantFacts:
    """A variant's own answers (cut, cached) and how its input tokens were counted."""
    return VariantFacts(**vars(s.counts), tokens_source=s.tokens_source)


def baseline_record(s: Summary) -> Baseline:
    """The template as it is, over the whole eval set, as every report shows it."""
    return Baseline(input_tokens=round(s.input_tokens, 3), output_tokens=round(s.output_tokens, 3),
                    score=s.score.mean, ci=list(s.score.ci) if s.score.ci else None, n=s.score.n, se=s.score.se,
                    pass_rate=s.pass_rate, judge_errors=s.judge_errors, usd_per_call=s.usd_per_call,
                    usd_per_month=s.usd_per_month, usd_per_usable_output=s.usd_per_usable_output,
                    facts=variant_facts(s))


def tiny_judge_note() -> str:
    """The note every report carries when the embedded model judged, naming the model actually loaded."""
    from promptslim.llm.local import local_name

    name, size = local_name()
    return (f"judge scores come from a tiny local model ({name}, {size}): for trying the tool, not for decisions; "
            "the assertions in the eval set are the checkable part")


def local_answers_note() -> str:
    """The note every ablation report carries when the embedded model answered, naming it."""
    from promptslim.llm.local import local_name

    name, size = local_name()
    return f"answers come from the embedded model {name} ({size}); token counts are approximate"
LOCAL_CAP_NOTE = ("the embedded model's answers were capped at {cap} tokens (a prompt's own max_tokens under "
                  "[prompts.\"name\"] in promptslim.toml, else 128): raise it if the task needs longer answers")


def tokens_note(source: str, model: str, local: bool = False) -> str:
    """One phrase saying how input tokens were counted, for the reports' run facts."""
    encoding, _ = encoding_for(model)
    if source == "exact":
        return f"exact (tiktoken {encoding}, {model}'s own tokenizer)"
    if source == "server-reported":
        return f"server-reported (the endpoint's usage.prompt_tokens; {model} has no public tokenizer)"
    if local:
        return f"estimated ≈ ({encoding} count of the prompt {model} would be sent; answers from the embedded model)"
    return f"estimated ≈ ({encoding}; no public tokenizer for {model} and no count from the endpoint)"


def truncation_warning(answers: int, truncated: int, max_tokens: int | None, local: bool) -> str | None:
    """A visible warning when more than TRUNCATION_WARNING of the answers stopped at the token limit."""
    if not answers or truncated / answers <= TRUNCATION_WARNING:
        return None
    if local:
        setting = "max_tokens: " + LOCAL_CAP_NOTE.format(cap=max_tokens)
    elif max_tokens is None:
        setting = "max_tokens is not set, so the endpoint's own limit cut them — set max_tokens in promptslim.toml"
    else:
        setting = f"raise max_tokens in promptslim.toml (now {max_tokens})"
    return (f"{truncated} of {answers} answers ({truncated / answers:.1%}) stopped at the token limit "
            f"(finish_reason: length): a cut answer can fail an assertion or lose judge points for reasons that "
            f"have nothing to do with the prompt — {setting}")


def run_facts(runner: "Runner", evaluators: Iterable[Evaluator], judges: Iterable["Judge"], *,
              max_tokens: int | None, local: bool) -> RunFacts:
    """The run's own facts, laid out flat inside a report's `run` object."""
    from promptslim.judge import JudgeStats

    evaluators = list(evaluators)
    answers = sum(ev.answers_seen for ev in evaluators)
    truncated = sum(ev.truncated_seen for ev in evaluators)
    stats = JudgeStats()
    seen: set[int] = set()
    for judge in judges:
        if judge is not None and id(judge) not in seen:
            seen.add(id(judge))
            stats.merge(judge.stats)
    by_role = {name: {**totals.to_dict(), "truncated": totals.truncated} for name, totals in runner.totals.items()}
    total = {key: sum(r[key] for r in by_role.values())
             for key in ("retries", "timeouts", "rate_limited", "server_errors", "other_errors")}
    return RunFacts(
        answers=answers, truncated=truncated, truncated_rate=truncated / answers if answers else None,
        max_tokens=max_tokens, **total,
        judge=JudgeFacts.from_json(stats.to_dict()) if seen else None,
        by_role={name: RoleFacts.from_json(r) for name, r in by_role.items()},
        concurrency={name: ConcurrencyFacts.from_json(c) for name, c in runner.concurrency_summary().items()},
        batch=batch_facts(runner),
    )


def batch_facts(runner: "Runner") -> BatchFacts | None:
    """With --batch: the batches this run created and those it resumed, and the price its calls were billed at."""
    from promptslim.llm.batch import batch_backends

    backends = batch_backends(runner)
    if not backends:
        return None
    return BatchFacts(submitted=[b for x in backends for b in x.submitted],
                      resumed=[b for x in backends for b in x.resumed],
                      price={x.role: PriceFacts(**runner.roles[x.role].price.describe()) for x in backends})


def price_facts(price: "Price", judge_price: "Price | None") -> Prices:
    """Where the $ figures (at the price model's prices) and the run's own spend came from."""
    return Prices(PriceFacts(**price.describe()), PriceFacts(**judge_price.describe()) if judge_price else None)


def warnings(facts: RunFacts, local: bool) -> list[str]:
    """Run facts that must be seen, not looked up: truncation over the threshold, judge errors, refused JSON mode."""
    out = []
    cut = truncation_warning(facts.answers, facts.truncated, facts.max_tokens, local)
    if cut:
        out.append(cut)
    judge = facts.judge
    if judge is not None and judge.errors:
        reasons = "; ".join(judge.error_reasons)
        out.append(f"{judge.errors} judge error(s): the judge gave no usable score after a corrective re-ask, so "
                   f"those answers are left out of the means and comparisons" + (f" ({reasons})" if reasons else ""))
    return out
