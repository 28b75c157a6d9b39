"""The run facts as lines of text, shared by the ablation report, check.md and the eval table, so they read alike."""
from __future__ import annotations

from . import fmt

MAX_STEPS = 8  # concurrency changes spelled out; the rest are counted


def judge_line(run: dict, variants: list[tuple[str, int]] | None = None) -> str | None:
    """'judge: 4 re-asked with a corrective note (3 recovered); 1 judge error (baseline 1) — reasons'."""
    judge = run.get("judge")
    if not judge:
        return None
    parts = [f"{judge.get('asked', 0):,} answers judged"]
    retries = judge.get("retries", 0)
    parts.append(f"{retries} re-asked with a corrective note ({judge.get('recovered', 0)} recovered)"
                 if retries else "no re-asks")
    errors = judge.get("errors", 0)
    where = ", ".join(f"{name}: {count}" for name, count in (variants or []) if count)
    parts.append(f"{fmt.plural(errors, 'judge error')}" + (f" ({where})" if where and errors else ""))
    if judge.get("truncated"):
        parts.append(f"{judge['truncated']} judge answer(s) cut at max_tokens")
    if judge.get("steps_retries"):
        parts.append("evaluation steps asked for twice")
    if judge.get("generic_steps"):
        parts.append("generic evaluation steps (the embedded judge does not write its own)")
    if judge.get("json_mode_refused"):
        parts.append("the endpoint refused JSON mode, re-asks went without it")
    line = "judge: " + "; ".join(parts)
    reasons = judge.get("error_reasons") or []
    return line + (" — " + "; ".join(reasons) if reasons and errors else "")


def truncation_line(run: dict, variants: list[tuple[str, int]] | None = None) -> str:
    answers, cut = run.get("answers", 0), run.get("truncated", 0)
    if not cut:
        return f"truncated answers (finish_reason: length): none of {answers:,}"
    where = ", ".join(f"{name}: {count}" for name, count in (variants or []) if count)
    setting = run.get("max_tokens")
    return (f"truncated answers (finish_reason: length): {cut:,} of {answers:,} ({fmt.pct(cut / answers, 1)})"
            + (f" — {where}" if where else "") + f"; max_tokens {setting if setting is not None else 'not set'}")


def retries_line(run: dict) -> str:
    if not run.get("retries"):
        return "retries: none (no timeouts, no 429s, no server errors)"
    return (f"retries: {run['retries']:,} — {run.get('timeouts', 0)} timeouts, {run.get('rate_limited', 0)} rate "
            f"limits (429), {run.get('server_errors', 0)} server errors, {run.get('other_errors', 0)} other "
            "(dropped connections, unreadable or empty answers); all asked again")


def cache_line(run: dict) -> str:
    roles = run.get("by_role") or {}
    split = ", ".join(f"{name} {r.get('cache_hits', 0):,}" for name, r in roles.items())
    return f"cache hits: {run.get('cache_hits', 0):,}" + (f" ({split})" if len(roles) > 1 else "")


def concurrency_line(run: dict) -> str | None:
    """'concurrency (target): 8 → 4 at 3.2 s (timeout) → 5 at 9.0 s (recovered); ended at 8, lowest 4'."""
    lines = []
    batched = set(((run.get("batch") or {}).get("price") or {}))  # batch jobs have no concurrency to adapt
    for role, c in (run.get("concurrency") or {}).items():
        if role in batched:
            continue
        changes = c.get("changes") or []
        if not changes:
            lines.append(f"{role} {c.get('start')} throughout")
            continue
        steps = [str(c.get("start"))]
        for change in changes[:MAX_STEPS]:
            why = {"rate_limit": "429", "timeout": "timeout", "recovered": "recovered"}.get(change["why"], change["why"])
            steps.append(f"{change['limit']} at {change['t']:g} s ({why})")
        more = len(changes) - MAX_STEPS + (c.get("changes_not_shown") or 0)
        text = " → ".join(steps) + (f" → … {more} more" if more > 0 else "")
        lines.append(f"{role} {text}; ended at {c.get('end')}, lowest {c.get('lowest')}")
    return "concurrency (adapts: halves on a timeout or 429, adds one per window of successes): " + "; ".join(lines) \
        if lines else None


def batch_line(run: dict) -> str | None:
    """With --batch: the batches behind this run and the price its own calls were billed at."""
    batch = run.get("batch")
    if not batch:
        return None
    submitted, resumed = len(batch.get("submitted") or []), len(batch.get("resumed") or [])
    billed = "; ".join(f"{role} at {p['source']}" for role, p in (batch.get("price") or {}).items())
    return (f"Batch API: {submitted} batch(es) submitted, {resumed} resumed from an earlier run; this run's calls "
            f"billed at the batch price ({billed}); $/call and $/month stay at the online price")


def price_line(prices: dict | None) -> str | None:
    if not prices:
        return None
    parts = []
    for label, p in (("$ figures", prices.get("price_model")), ("judge", prices.get("judge"))):
        if not p:
            continue
        if p.get("kind") == "genai-prices":
            text = (f"{p['model']} list prices from genai-prices {p.get('data_version') or '?'} bundled data "
                    f"({p['source'].split(': ', 1)[-1]}, in effect {p.get('date') or '?'})")
        elif p.get("kind") == "local":
            text = f"{p['model']} costs nothing (runs locally)"
        else:
            text = f"{p['model']} at a hand-entered config price ({p['source']}), not a list price"
        parts.append(f"{label}: {text}")
    return "prices: " + "; ".join(parts)


def fact_lines(result: dict, variants_truncated: list[tuple[str, int]] | None = None,
               variants_judge: list[tuple[str, int]] | None = None) -> list[str]:
    """Every run fact as one line each, in the order the README lists them."""
    run = result.get("run") or {}
    lines = [judge_line(run, variants_judge), truncation_line(run, variants_truncated), retries_line(run),
             cache_line(run), concurrency_line(run), batch_line(run), price_line(result.get("prices"))]
    if result.get("tokens_note"):
        lines.append(f"token counts: {result['tokens_note']}")
    return [line for line in lines if line]
