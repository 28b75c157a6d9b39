"""The ablation engine: leave one unit out at a time, decide with paired statistics, verify a combined slim prompt."""

from __future__ import annotations

import difflib
import hashlib
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from promptslim.decide import (ALPHA, METHOD, MIN_TWO_STAGE, UnitDecision, cases_for_power, decide_units, detectable,
                               interim,
                               min_cases_unchanged, slim_order, slim_sizes, slim_step,
                               stage_one_indices)
from promptslim.evaluate import CaseResult, Evaluator, Summary, VariantResult
from promptslim.gitutil import head_commit
from promptslim.cost import traffic_warnings
from promptslim.runfacts import price_facts, run_facts, tokens_note, warnings
from promptslim.tokens import count_text, encoding_for
from promptslim.units import Unit

TINY_JUDGE_NOTE = ("judge scores come from a tiny local model (SmolLM2-135M): for trying the tool, not for decisions; "
                   "the assertions in the eval set are the checkable part")
HOURS_PER_MONTH = 30 * 24


@dataclass(frozen=True)
class UnitResult:
    """What removing one unit did, against the baseline on the same cases."""

    unit: Unit
    tokens: int
    input_tokens_saved: float
    output_tokens_delta: float
    decision: UnitDecision
    usd_per_call_saved: float
    usd_per_month_saved: float
    judge_errors: dict[str, int]  # cases left out because the judge failed on that side
    variant: Summary | None = None  # the leave-one-out variant's own summary (its truncation, cache hits)

    @property
    def verdict(self) -> str:
        return self.decision.verdict


@dataclass(frozen=True)
class Ablation:
    """The engine's answer: the ablation.json dict, the slim template source and its diff."""

    data: dict
    slim_source: str
    diff: str


@dataclass(frozen=True)
class Slim:
    """The verified slim prompt (or none): what the fixed sequence reached, and the step that stopped it."""

    result: VariantResult
    removed: list[int]
    restored: list[int]
    deltas: list[float]
    verdict: str
    low: float | None
    high: float | None
    steps: list[dict]


Phase = Callable[[str, int], Callable[[], None]]  # (phase name, total cases) -> tick


def _bounds(low: float | None, high: float | None) -> list[float] | None:
    if low is None or high is None:
        return None
    return [round(low, 6), round(high, 6)]


def _saves(ev: Evaluator, base: Summary, variant: Summary) -> tuple[float, float, bool]:
    """($/call saved, $/month saved, saves money): input savings must beat any extra output cost."""
    per_call = base.usd_per_call - variant.usd_per_call
    if ev.price.input == 0 and ev.price.output == 0:
        saves = (base.input_tokens - variant.input_tokens) - (variant.output_tokens - base.output_tokens) > 0
    else:
        saves = per_call > 0
    return per_call, per_call * ev.calls_per_month, saves


def paired(variant: list[CaseResult], baseline: list[CaseResult]) -> tuple[list[float], dict[str, int]]:
    """Deltas over cases scored on both sides, and how many cases each side's judge errors left out."""
    deltas, errors = [], {"baseline": 0, "variant": 0}
    for v, b in zip(variant, baseline):
        if b.score is None:
            errors["baseline"] += 1
        elif v.score is None:
            errors["variant"] += 1
        else:
            deltas.append(v.score - b.score)
    return deltas, errors


async def run_ablation(ev: Evaluator, margin: float, phase: Phase | None = None, slim_path: str = "",
                       two_stage: bool = True) -> Ablation:
    """Baseline, leave-one-out variants (two stages), Holm verdicts, then the slim prompt as a fixed sequence."""
    started = time.monotonic()
    template = ev.template
    candidates = template.candidates
    sources = [template.without({u.id}) for u in candidates]
    for source in [template.source, *sources]:
        ev.messages(source)  # every variant must render for every case before any call is made
    n, k = len(ev.evalset.cases), len(candidates)

    def tick(name: str, total: int) -> None:
        ev.on_case = phase(name, total) if phase else None

    tick("baseline", n)
    baseline = await ev.run(template.source)
    adaptive = two_stage and n >= MIN_TWO_STAGE
    first = stage_one_indices(n) if adaptive else list(range(n))
    tick("leave-one-out" + (" (stage 1)" if adaptive else ""), len(first) * k)
    runs = await ev.runner.gather(ev.run(src, first) for src in sources)
    ran = [(list(first), list(r.cases)) for r in runs]
    stopped: dict[int, str] = {}
    if adaptive:
        for j in range(k):
            deltas, _ = paired(ran[j][1], [baseline.cases[i] for i in first])
            early = interim(deltas, n, margin, k)
            if early is not None:
                stopped[j] = early
        rest = [i for i in range(n) if i not in set(first)]
        go = [j for j in range(k) if j not in stopped]
        tick("leave-one-out (stage 2)", len(rest) * len(go))
        more = await ev.runner.gather(ev.run(sources[j], rest) for j in go)
        for j, r in zip(go, more):
            ran[j] = (ran[j][0] + rest, ran[j][1] + list(r.cases))
    pairs = [paired(cases, [baseline.cases[i] for i in idx]) for idx, cases in ran]
    decisions = decide_units([d for d, _ in pairs], margin, stopped, two_stage=adaptive)
    units: list[UnitResult] = []
    saving: dict[int, bool] = {}
    for j, unit in enumerate(candidates):
        idx, cases = ran[j]
        var_sum = ev.summarize(cases)
        base_sum = ev.summarize([baseline.cases[i] for i in idx])
        per_call, per_month, saves = _saves(ev, base_sum, var_sum)
        saving[unit.id] = saves
        units.append(UnitResult(
            unit=unit, tokens=count_text(unit.text, ev.models.price_model),
            input_tokens_saved=base_sum.input_tokens - var_sum.input_tokens,
            output_tokens_delta=var_sum.output_tokens - base_sum.output_tokens,
            decision=decisions[j], usd_per_call_saved=per_call, usd_per_month_saved=per_month,
            judge_errors=pairs[j][1], variant=var_sum))
    slim = await _slim(ev, baseline, units, saving, margin, tick)
    slim_source = template.without(set(slim.removed))
    ev.messages(slim_source)  # the slim template renders for every case
    diff = "".join(difflib.unified_diff(template.source.splitlines(keepends=True), slim_source.splitlines(keepends=True),
                                        fromfile=template.rel, tofile=slim_path or "slim.j2"))
    data = _result_dict(ev, margin, baseline, units, slim, slim_path, adaptive, time.monotonic() - started)
    return Ablation(data, slim_source, diff)


async def _slim(ev: Evaluator, baseline: VariantResult, units: list[UnitResult], saving: dict[int, bool],
                margin: float, tick: Callable[[str, int], None]) -> Slim:
    """Test nested sets in a fixed order at 95% each; ship the last one that held and saved money."""
    order = slim_order([r.decision for r in units], [saving[r.unit.id] for r in units],
                       [r.usd_per_call_saved for r in units])
    pool = [units[j] for j in order]
    n = len(ev.evalset.cases)
    best = Slim(baseline, [], [], [0.0] * n, "inconclusive", 0.0, 0.0, [])
    steps: list[dict] = []
    for size in slim_sizes(len(pool)):
        group = pool[:size]
        tick(f"slim ({size} unit{'s' if size > 1 else ''})", n)
        result = await ev.run(ev.template.without({r.unit.id for r in group}))
        deltas, errors = paired(list(result.cases), list(baseline.cases))
        ok, low, high = slim_step(deltas, margin)
        saves = _saves(ev, baseline.summary, result.summary)[2]
        steps.append({"removed": sorted(r.unit.id for r in group), "ci": _bounds(low, high),
                      "verified": ok, "saves_money": saves, "judge_errors": errors})
        if not (ok and saves):
            break
        removed = sorted(r.unit.id for r in group)
        best = Slim(result, removed, [], deltas, "removable", low, high, steps)
    restored = sorted(r.unit.id for r in pool if r.unit.id not in best.removed and r.verdict == "removable")
    verdict = best.verdict if best.removed else _unverified(steps)
    return Slim(best.result, best.removed, restored, best.deltas, verdict, best.low, best.high, steps)


def _unverified(steps: list[dict]) -> str:
    """No slim prompt verified (slim.j2 is the template): the first step's verdict by the unit rules, never 'none'.

    keep when removing the first candidate measurably hurt (upper bound below 0), else inconclusive — so the slim
    verdict is always one of the three documented ones.
    """
    high = steps[0]["ci"][1] if steps and steps[0]["ci"] else None
    return "keep" if high is not None and high < 0 else "inconclusive"


def _summary_dict(result: VariantResult) -> dict:
    s = result.summary
    return {"input_tokens": round(s.input_tokens, 3), "output_tokens": round(s.output_tokens, 3),
            "score": s.score.mean, "ci": list(s.score.ci) if s.score.ci else None, "n": s.score.n, "se": s.score.se,
            "pass_rate": s.pass_rate,
            "judge_errors": s.judge_errors, "usd_per_call": s.usd_per_call, "usd_per_month": s.usd_per_month,
            "usd_per_usable_output": s.usd_per_usable_output, **variant_facts(s)}


def variant_facts(s: Summary) -> dict:
    """A variant's own run facts: answers, how many were cut at max_tokens, from the cache, token source."""
    return {"answers": s.answers, "truncated": s.truncated, "cache_hits": s.cache_hits,
            "tokens_source": s.tokens_source}


def _power(units: list[UnitResult], margin: float, n: int) -> dict:
    """What this eval set can decide: the planning figures DESIGN.md asks every inconclusive to come with."""
    k = len(units)
    sds = sorted(r.decision.sd for r in units if r.decision.sd is not None and r.decision.sd > 0)
    sd = statistics.median(sds) if sds else None
    return {"cases": n, "units": k, "min_cases_unchanged": min_cases_unchanged(k, margin),
            "median_delta_sd": sd, "cases_for_80pct_power": cases_for_power(sd, margin, k) if sd else None,
            # with no spread at all (unchanged answers) the exact bound is what limits: 1 − (α/K)^(1/n)
            "min_detectable_margin": detectable(sd, n, k) if sd else (1 - (ALPHA / max(k, 1)) ** (1 / n) if n else None)}


def _hint(units: list[UnitResult], margin: float, n: int, repeats: int, power: dict, run: dict) -> str | None:
    """What would settle the inconclusive units, with its calls, $ and time; never "run again until removable"."""
    open_units = [r for r in units if r.verdict == "inconclusive"]
    if not open_units:
        return None
    unchanged = [r for r in open_units if r.decision.sd == 0]
    targets = []
    if unchanged:
        targets.append(power["min_cases_unchanged"])
    if power["cases_for_80pct_power"]:
        targets.append(power["cases_for_80pct_power"])
    target = max(targets) if targets else None
    text = f"{len(open_units)} of {len(units)} units are inconclusive at {n} cases"
    if power["min_detectable_margin"] is not None:
        text += f" (smallest margin this run could detect with 80% power: {power['min_detectable_margin']:.3f})"
    if target is None or target <= n:
        return text + ("; their score deltas sit near −margin: more cases of the same kind will not settle them, "
                       "and re-running the same set only re-spends the error")
    per_call_usd = run["usd"] / run["calls"] if run["calls"] else 0.0
    per_call_s = run["wall_seconds"] / max(run["calls"] + run["cache_hits"], 1)
    calls = (1 + len(units)) * target * repeats * (2 if run.get("usd_judge") else 1)
    text += (f"; about {target} cases in a new, larger eval set would settle most of them: ~{calls:,} calls, "
             f"~${per_call_usd * calls:.2f}, ~{per_call_s * calls / 60:.0f} min at this run's rates. Add cases rather "
             "than re-running this set until something turns removable (every look spends the error budget)")
    if repeats == 1:
        text += ("; --repeats helps only when answers or the judge are noisy (temperature > 0), never with "
                 "deterministic pass/fail answers")
    return text


def _result_dict(ev: Evaluator, margin: float, baseline: VariantResult, units: list[UnitResult], slim: Slim,
                 slim_path: str, adaptive: bool, wall: float) -> dict:
    runner, models, template = ev.runner, ev.models, ev.template
    n = len(ev.evalset.cases)
    base = _summary_dict(baseline)
    slim_summary = _summary_dict(slim.result)
    slim_per_call = baseline.summary.usd_per_call - slim.result.summary.usd_per_call
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
    run = {"calls": runner.api_calls, "cache_hits": runner.cache_hits, "usd": run_usd,
           "usd_target": runner.totals["target"].usd,
           "usd_judge": runner.totals["judge"].usd if "judge" in runner.totals else 0.0,
           "judge_skipped_identical": ev.judge_skipped, "wall_seconds": round(wall, 2), "payback_hours": payback}
    run.update(run_facts(runner, [ev], [ev.judge] if ev.judge else [], max_tokens=ev.params(0).max_tokens,
                         local=models.local))
    judge_role = runner.roles.get("judge")
    power = _power(units, margin, n)
    stage = "two-stage (every other case first; units stopped at the interim look only as keep or futile)" \
        if adaptive else "single stage"
    method = (f"{METHOD}: one-sided non-inferiority p-value per unit (t on paired deltas; pseudo-deltas +1, −1, 0, 0 "
              f"and an exact binomial guard on the cases made worse when two thirds or more deltas are 0; exact bound when "
              f"all deltas are equal), Holm over {len(units)} units at {ALPHA:.0%} familywise for removable; keep = "
              f"one-sided t upper bound below 0 per unit; a unit's ci is [its lower bound at its Holm level, keep's "
              f"upper bound]; {stage}; slim prompt = fixed sequence of nested sets, each verified at 97.5% on its own "
              "run, first failure stops")
    return {
        "schema_version": 2,
        "template": template.rel,
        "template_sha256": hashlib.sha256(template.source.encode()).hexdigest(),
        "git_commit": head_commit(ev.config.root),
        "model": models.model,
        "judge_model": models.judge_model,
        "evalset": ev.evalset.path,
        "cases": n,
        "repeats": ev.repeats,
        "temperature": ev.temperature,
        "margin": margin,
        "calls_per_month": ev.calls_per_month,
        "tokens_approximate": bool(baseline.summary.tokens_approximate),
        "tokens_source": baseline.summary.tokens_source,
        "unit_tokens_approximate": models.local or encoding_for(models.price_model)[1],
        "tokens_note": tokens_note(baseline.summary.tokens_source, models.price_model, models.local),
        "prices": price_facts(ev.price, judge_role.price if judge_role else None),
        "warnings": warnings(run, models.local) + traffic_warnings(ev.template.name, ev.calls_per_month),
        "baseline": base,
        "units": [{
            "id": r.unit.id, "line": r.unit.line, "text": r.unit.text, "tokens": r.tokens,
            "input_tokens_saved": round(r.input_tokens_saved, 3), "output_tokens_delta": round(r.output_tokens_delta, 3),
            "score_delta": r.decision.mean, "ci": _bounds(r.decision.low, r.decision.high), "n": r.decision.n,
            "verdict": r.verdict, "p_value": r.decision.p, "holm_level": r.decision.level,
            "stage": r.decision.stage, "judge_errors": r.judge_errors,
            "truncated": r.variant.truncated if r.variant else 0, "answers": r.variant.answers if r.variant else 0,
            "usd_per_call_saved": r.usd_per_call_saved, "usd_per_month_saved": r.usd_per_month_saved,
        } for r in units],
        "slim": {
            "removed": slim.removed, "restored": slim.restored, "path": slim_path,
            "input_tokens": slim_summary["input_tokens"], "output_tokens": slim_summary["output_tokens"],
            "input_tokens_saved": round(baseline.summary.input_tokens - slim.result.summary.input_tokens, 3),
            "output_tokens_delta": round(slim.result.summary.output_tokens - baseline.summary.output_tokens, 3),
            "score": slim_summary["score"], "score_delta": sum(slim.deltas) / len(slim.deltas) if slim.deltas else None,
            "ci": _bounds(slim.low, slim.high), "n": len(slim.deltas), "verdict": slim.verdict,
            "usd_per_call_saved": slim_per_call, "usd_per_month_saved": slim_per_month, "steps": slim.steps,
            "judge_errors": slim_summary["judge_errors"], **variant_facts(slim.result.summary),
        },
        "run": run,
        "power": power,
        "price_model": models.price_model,
        "judge_note": "; ".join(notes) if notes else None,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": method,
        "inconclusive_hint": _hint(units, margin, n, ev.repeats, power, run),
        "pinned": [u.id for u in template.units if u.pinned],
    }
