"""The ablation engine: leave one unit out at a time, decide with paired statistics, verify a combined slim prompt."""

from __future__ import annotations

import difflib
import hashlib
import math
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from promptslim.evaluate import Evaluator, VariantResult
from promptslim.gitutil import head_commit
from promptslim.stats import Estimate, adjusted_level, cases_needed, paired_delta, verdict
from promptslim.tokens import count_text
from promptslim.units import Unit

TINY_JUDGE_NOTE = ("judge scores come from a tiny local model (SmolLM2-135M): for trying the tool, not for decisions; "
                   "the assertions in the eval set are the checkable part")
HOURS_PER_MONTH = 30 * 24


@dataclass(frozen=True)
class UnitResult:
    """What removing one unit did, against the baseline."""

    unit: Unit
    tokens: int
    input_tokens_saved: float
    output_tokens_delta: float
    delta: Estimate
    verdict: str
    usd_per_call_saved: float
    usd_per_month_saved: float


@dataclass(frozen=True)
class Ablation:
    """The engine's answer: the ablation.json dict, the slim template source and its diff."""

    data: dict
    slim_source: str
    diff: str


Phase = Callable[[str, int], Callable[[], None]]  # (phase name, total cases) -> tick


def _ci(estimate: Estimate) -> list[float] | None:
    return [round(estimate.ci[0], 6), round(estimate.ci[1], 6)] if estimate.ci else None


def _money_saved(ev: Evaluator, base: VariantResult, variant: VariantResult) -> tuple[float, float]:
    per_call = base.summary.usd_per_call - variant.summary.usd_per_call
    return per_call, per_call * ev.calls_per_month


def _saves_money(result: UnitResult, price_is_zero: bool) -> bool:
    """Input savings must beat any extra output cost ("keep it short" rules usually do not)."""
    if price_is_zero:
        return result.input_tokens_saved - result.output_tokens_delta > 0
    return result.usd_per_call_saved > 0


async def run_ablation(ev: Evaluator, margin: float, phase: Phase | None = None, slim_path: str = "") -> Ablation:
    """Baseline once, every leave-one-out variant, verdicts, then the combined slim prompt with back-off."""
    started = time.monotonic()
    template = ev.template
    candidates = template.candidates
    sources = {u.id: template.without({u.id}) for u in candidates}
    for source in [template.source, *sources.values()]:
        ev.messages(source)  # every variant must render for every case before any call is made

    ev.on_case = phase("baseline", len(ev.evalset.cases)) if phase else None
    baseline = await ev.run(template.source)
    ev.on_case = phase("leave-one-out", len(ev.evalset.cases) * len(sources)) if phase else None
    variants = await ev.runner.gather(ev.run(src) for src in sources.values())
    by_id = dict(zip(sources, variants))

    level = adjusted_level(len(candidates))
    price_is_zero = ev.price.input == 0 and ev.price.output == 0
    units: list[UnitResult] = []
    for unit in candidates:
        variant = by_id[unit.id]
        delta = paired_delta(variant.scores(), baseline.scores(), level)
        per_call, per_month = _money_saved(ev, baseline, variant)
        units.append(UnitResult(
            unit=unit, tokens=count_text(unit.text, ev.models.price_model),
            input_tokens_saved=baseline.summary.input_tokens - variant.summary.input_tokens,
            output_tokens_delta=variant.summary.output_tokens - baseline.summary.output_tokens,
            delta=delta, verdict=verdict(delta, margin), usd_per_call_saved=per_call, usd_per_month_saved=per_month))

    chosen = [r for r in units if r.verdict == "removable" and _saves_money(r, price_is_zero)]
    nothing = (baseline, Estimate(len(ev.evalset.cases), 0.0, 0.0, (0.0, 0.0)), "none")
    rounds = 0

    async def combined(group: list[UnitResult], name: str) -> tuple[VariantResult, Estimate, str, bool]:
        """Evaluate dropping `group` together: (result, delta, verdict, saves money)."""
        ev.on_case = phase(name, len(ev.evalset.cases)) if phase else None
        result = await ev.run(template.without({r.unit.id for r in group}))
        delta = paired_delta(result.scores(), baseline.scores())
        saved = (baseline.summary.input_tokens - result.summary.input_tokens
                 - (result.summary.output_tokens - baseline.summary.output_tokens))
        saves = saved > 0 if price_is_zero else baseline.summary.usd_per_call > result.summary.usd_per_call
        return result, delta, verdict(delta, margin), saves

    slim_result, slim_delta, slim_verdict = nothing
    put_back: list[UnitResult] = []
    while chosen:
        slim_result, slim_delta, slim_verdict, saves = await combined(
            chosen, "slim" if rounds == 0 else f"slim (back-off {rounds})")
        rounds += 1
        if slim_verdict == "removable" and saves:
            break
        # instructions interact: put back the riskiest unit and try again — by quality (smallest lower
        # bound) when the combination hurts the score, else by cost (two "be brief" rules can each go
        # alone, but without both every answer grows)
        if slim_verdict != "removable":
            back = min(chosen, key=lambda r: (r.delta.ci[0] if r.delta.ci else -math.inf, r.usd_per_call_saved))
        else:
            back = max(chosen, key=lambda r: (r.output_tokens_delta, -r.usd_per_call_saved, r.unit.id))
        chosen.remove(back)
        put_back.append(back)
        if not chosen:
            slim_result, slim_delta, slim_verdict = nothing
    if chosen and len(put_back) > 1:
        # ties in the back-off order can put back more than the interaction needs. Usually the last
        # unit put back is the one that mattered: try dropping all the others again in one round;
        # failing that, offer each put-back unit again (most valuable first)
        last = put_back[-1]
        trial = await combined(chosen + put_back[:-1], "slim (recheck)")
        if trial[2] == "removable" and trial[3]:
            chosen += put_back[:-1]
            put_back = [last]
            slim_result, slim_delta, slim_verdict = trial[0], trial[1], trial[2]
        for candidate in sorted(put_back if len(put_back) > 1 else [], key=lambda r: -r.usd_per_call_saved):
            trial = await combined(chosen + [candidate], f"slim (recheck {candidate.unit.id})")
            if trial[2] == "removable" and trial[3]:
                chosen.append(candidate)
                put_back.remove(candidate)
                slim_result, slim_delta, slim_verdict = trial[0], trial[1], trial[2]
    restored = [r.unit.id for r in put_back]
    removed = sorted(r.unit.id for r in chosen)
    slim_source = template.without(set(removed))
    ev.messages(slim_source)  # the slim template renders for every case
    diff = "".join(difflib.unified_diff(template.source.splitlines(keepends=True), slim_source.splitlines(keepends=True),
                                        fromfile=template.rel, tofile=slim_path or "slim.j2"))
    data = _result_dict(ev, margin, baseline, units, slim_result, slim_delta, slim_verdict, removed, restored,
                        slim_path, level, time.monotonic() - started)
    return Ablation(data, slim_source, diff)


def _summary_dict(result: VariantResult) -> dict:
    s = result.summary
    return {"input_tokens": round(s.input_tokens, 3), "output_tokens": round(s.output_tokens, 3),
            "score": s.score.mean, "ci": _ci(s.score), "n": s.score.n, "se": s.score.se, "pass_rate": s.pass_rate,
            "judge_errors": s.judge_errors, "usd_per_call": s.usd_per_call, "usd_per_month": s.usd_per_month,
            "usd_per_usable_output": s.usd_per_usable_output}


def _hint(units: list[UnitResult], margin: float, n: int, repeats: int) -> str | None:
    open_units = [r for r in units if r.verdict == "inconclusive"]
    if not open_units:
        return None
    needed = [x for r in open_units if (x := cases_needed(r.delta, margin)) is not None]
    if not needed:
        return (f"{len(open_units)} of {len(units)} units are inconclusive; their score deltas sit on a decision "
                "boundary or have fewer than 2 paired cases — add cases")
    target = int(statistics.median(needed))
    times = max(2, math.ceil(target / max(n, 1)))
    return (f"{len(open_units)} of {len(units)} units are inconclusive; about {target} cases "
            f"(or --repeats {times * repeats} on these {n}) would likely settle half of them")


def _result_dict(ev: Evaluator, margin: float, baseline: VariantResult, units: list[UnitResult],
                 slim: VariantResult, slim_delta: Estimate, slim_verdict: str, removed: list[int],
                 restored: list[int], slim_path: str, level: float, wall: float) -> dict:
    runner, models, template = ev.runner, ev.models, ev.template
    base = _summary_dict(baseline)
    slim_summary = _summary_dict(slim)
    slim_per_call = baseline.summary.usd_per_call - slim.summary.usd_per_call
    slim_per_month = slim_per_call * ev.calls_per_month
    run_usd = runner.spent
    payback = (run_usd / (slim_per_month / HOURS_PER_MONTH)) if slim_per_month > 0 else None
    notes = []
    if models.judge_is_local:
        notes.append(TINY_JUDGE_NOTE)
    if models.local:
        notes.append("answers come from the embedded 135M-parameter model; token counts are approximate")
    rate = baseline.summary.pass_rate
    if rate is not None and rate <= 0.2:
        notes.append(f"the baseline passes only {rate:.0%} of the eval set: a model that cannot do the task "
                     "cannot show which instructions it needs")
    return {
        "template": template.rel,
        "template_sha256": hashlib.sha256(template.source.encode()).hexdigest(),
        "git_commit": head_commit(ev.config.root),
        "model": models.model,
        "judge_model": models.judge_model,
        "evalset": ev.evalset.path,
        "cases": len(ev.evalset.cases),
        "repeats": ev.repeats,
        "margin": margin,
        "calls_per_month": ev.calls_per_month,
        "tokens_approximate": bool(baseline.summary.tokens_approximate),
        "baseline": base,
        "units": [{
            "id": r.unit.id, "line": r.unit.line, "text": r.unit.text, "tokens": r.tokens,
            "input_tokens_saved": round(r.input_tokens_saved, 3), "output_tokens_delta": round(r.output_tokens_delta, 3),
            "score_delta": r.delta.mean, "ci": _ci(r.delta), "n": r.delta.n, "verdict": r.verdict,
            "usd_per_call_saved": r.usd_per_call_saved, "usd_per_month_saved": r.usd_per_month_saved,
        } for r in units],
        "slim": {
            "removed": removed, "restored": restored, "path": slim_path,
            "input_tokens": slim_summary["input_tokens"], "output_tokens": slim_summary["output_tokens"],
            "input_tokens_saved": round(baseline.summary.input_tokens - slim.summary.input_tokens, 3),
            "output_tokens_delta": round(slim.summary.output_tokens - baseline.summary.output_tokens, 3),
            "score": slim_summary["score"], "score_delta": slim_delta.mean, "ci": _ci(slim_delta), "n": slim_delta.n,
            "verdict": slim_verdict, "usd_per_call_saved": slim_per_call, "usd_per_month_saved": slim_per_month,
        },
        "run": {"calls": runner.api_calls, "cache_hits": runner.cache_hits, "usd": run_usd,
                "usd_target": runner.totals["target"].usd,
                "usd_judge": runner.totals["judge"].usd if "judge" in runner.totals else 0.0,
                "wall_seconds": round(wall, 2), "payback_hours": payback},
        "price_model": models.price_model,
        "judge_note": "; ".join(notes) if notes else None,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": (f"paired t-interval on per-case score deltas (variant − baseline), "
                   f"{level * 100:.2f}% per unit = 95% Bonferroni-adjusted over {len(units)} units; "
                   "slim prompt checked at 95%; when every delta is equal the rule of three bounds the CI"),
        "inconclusive_hint": _hint(units, margin, len(ev.evalset.cases), ev.repeats),
        "pinned": [u.id for u in template.units if u.pinned],
    }
