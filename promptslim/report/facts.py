"""The run facts as lines of text, shared by the ablation report, check.md and the eval table, so they read alike."""
from __future__ import annotations

from typing import TYPE_CHECKING, Union

from . import fmt

if TYPE_CHECKING:
    from promptslim.results import AblationRun, CheckRun, EvalRun, Prices, RunFacts

    AnyRun = Union[AblationRun, CheckRun, EvalRun]

MAX_STEPS = 8  # concurrency changes spelled out; the rest are counted


def judge_line(run: "RunFacts", variants: list[tuple[str, int]] | None = None) -> str | None:
    """'judge: 4 re-asked with a corrective note (3 recovered); 1 judge error (baseline 1) — reasons'."""
    judge = run.judge
    if not judge:
        return None
    parts = [f"{judge.asked:,} answers judged"]
    retries = judge.retries
    parts.append(f"{retries} re-asked with a corrective note ({judge.recovered} recovered)"
                 if retries else "no re-asks")
    errors = judge.errors
    where = ", ".join(f"{name}: {count}" for name, count in (variants or []) if count)
    parts.append(f"{fmt.plural(errors, 'judge error')}" + (f" ({where})" if where and errors else ""))
    if judge.truncated:
        parts.append(f"{judge.truncated} judge answer(s) cut at max_tokens")
    if judge.steps_retries:
        parts.append("evaluation steps asked for twice")
    if judge.generic_steps:
        parts.append("generic evaluation steps (the embedded judge does not write its own)")
    if judge.json_mode_refused:
        parts.append("the endpoint refused JSON mode, re-asks went without it")
    line = "judge: " + "; ".join(parts)
    reasons = judge.error_reasons
    return line + (" — " + "; ".join(reasons) if reasons and errors else "")


def truncation_line(run: "RunFacts", variants: list[tuple[str, int]] | None = None) -> str:
    answers, cut = run.answers, run.truncated
    if not cut:
        return f"truncated answers (finish_reason: length): none of {answers:,}"
    where = ", ".join(f"{name}: {count}" for name, count in (variants or []) if count)
    setting = run.max_tokens
    return (f"truncated answers (finish_reason: length): {cut:,} of {answers:,} ({fmt.pct(cut / answers, 1)})"
            + (f" — {where}" if where else "") + f"; max_tokens {setting if setting is not None else 'not set'}")


def retries_line(run: "RunFacts") -> str:
    if not run.retries:
        return "retries: none (no timeouts, no 429s, no server errors)"
    return (f"retries: {run.retries:,} — {run.timeouts} timeouts, {run.rate_limited} rate "
            f"limits (429), {run.server_errors} server errors, {run.other_errors} other "
            "(dropped connections, unreadable or empty answers); all asked again")


def cache_line(run: "AnyRun") -> str:
    roles = run.facts.by_role
    split = ", ".join(f"{name} {r.cache_hits:,}" for name, r in roles.items())
    return f"cache hits: {run.cache_hits:,}" + (f" ({split})" if len(roles) > 1 else "")


def concurrency_line(run: "RunFacts") -> str | None:
    """'concurrency (target): 8 → 4 at 3.2 s (timeout) → 5 at 9.0 s (recovered); ended at 8, lowest 4'."""
    lines = []
    batched = set(run.batch.price) if run.batch else set()  # batch jobs have no concurrency to adapt
    for role, c in run.concurrency.items():
        if role in batched:
            continue
        changes = c.changes
        if not changes:
            lines.append(f"{role} {c.start} throughout")
            continue
        steps = [str(c.start)]
        for change in changes[:MAX_STEPS]:
            why = {"rate_limit": "429", "timeout": "timeout", "recovered": "recovered"}.get(change.why, change.why)
            steps.append(f"{change.limit} at {change.t:g} s ({why})")
        more = len(changes) - MAX_STEPS + (c.changes_not_shown or 0)
        text = " → ".join(steps) + (f" → … {more} more" if more > 0 else "")
        lines.append(f"{role} {text}; ended at {c.end}, lowest {c.lowest}")
    return "concurrency (adapts: halves on a timeout or 429, adds one per window of successes): " + "; ".join(lines) \
        if lines else None


def batch_line(run: "RunFacts") -> str | None:
    """With --batch: the batches behind this run and the price its own calls were billed at."""
    batch = run.batch
    if not batch:
        return None
    submitted, resumed = len(batch.submitted), len(batch.resumed)
    billed = "; ".join(f"{role} at {p.source}" for role, p in batch.price.items())
    return (f"Batch API: {submitted} batch(es) submitted, {resumed} resumed from an earlier run; this run's calls "
            f"billed at the batch price ({billed}); $/call and $/month stay at the online price")


def price_line(prices: "Prices | None") -> str | None:
    if not prices:
        return None
    parts = []
    for label, p in (("$ figures", prices.price_model), ("judge", prices.judge)):
        if not p:
            continue
        if p.kind == "genai-prices":
            text = (f"{p.model} list prices from genai-prices {p.data_version or '?'} bundled data "
                    f"({p.source.split(': ', 1)[-1]}, in effect {p.date or '?'})")
        elif p.kind == "local":
            text = f"{p.model} costs nothing (runs locally)"
        elif p.kind == "self-hosted":
            text = f"{p.model} has no list price and runs on a self-hosted endpoint: priced at $0 ({p.source})"
        else:
            text = f"{p.model} at a hand-entered config price ({p.source}), not a list price"
        parts.append(f"{label}: {text}")
    return "prices: " + "; ".join(parts)


def fact_lines(run: "AnyRun", prices: "Prices | None", tokens_note: str | None,
               variants_truncated: list[tuple[str, int]] | None = None,
               variants_judge: list[tuple[str, int]] | None = None) -> list[str]:
    """Every run fact as one line each, in the order the README lists them."""
    facts = run.facts
    lines = [judge_line(facts, variants_judge), truncation_line(facts, variants_truncated), retries_line(facts),
             cache_line(run), concurrency_line(facts), batch_line(facts), price_line(prices)]
    if tokens_note:
        lines.append(f"token counts: {tokens_note}")
    return [line for line in lines if line]
