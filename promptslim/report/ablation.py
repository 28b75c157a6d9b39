"""Ablation reports: ablation.json, .md, .csv and .html from the engine's typed result."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from promptslim.results import AblationResult, Baseline, SlimFinding, Verdict
from promptslim.results.headroom import Headroom
from promptslim.safeio import atomic_write

from . import fmt
from .chart import ablation_chart_svg
from .csvsafe import csv_text
from .facts import fact_lines
from .sections import parts

if TYPE_CHECKING:
    import pandas

CSV_COLUMNS = [
    "id", "line", "verdict", "in_slim", "tokens", "input_tokens_saved", "output_tokens_delta",
    "score_delta", "ci_low", "ci_high", "n", "usd_per_call_saved", "usd_per_month_saved", "text",
    "judge_errors", "truncated",
]
APPROX = " ≈"  # header suffix of a CSV column whose figures are estimates (no public tokenizer, no server count)


def write_ablation_reports(result: AblationResult, outdir: Path, diff: str) -> dict[str, Path]:
    """Write ablation.json, ablation.md, ablation.csv, ablation.html into outdir (created); return {"json": path, ...}."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {kind: outdir / f"ablation.{kind}" for kind in ("json", "md", "csv", "html")}
    contents = {
        "json": json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n",
        "md": render_markdown(result, diff),
        "csv": csv_text(units_frame(result)),  # a unit's text ("- …", "=…") is never a live formula
        "html": render_html(result, diff),
    }
    for kind, path in paths.items():
        # "\n" on every OS, so reports diff cleanly in git; temp file + rename, so readers never see half a file
        atomic_write(path, contents[kind])
    return paths


def nothing_removable(result: AblationResult) -> bool:
    return result.nothing_removable


def outcome(result: AblationResult) -> str:
    """Which of the three headlines: 'removable' (a verified slim prompt), 'all keep', or 'not enough evidence'."""
    if not nothing_removable(result):
        return "removable"
    units, n_units, _ = _tested(result)
    if units and all(u.verdict == Verdict.KEEP for u in units) and len(result.units) == n_units:
        return "all keep"  # every instruction was tested on its own (a tree's sections being keep is not that)
    return "not enough evidence"


def _tested(result: AblationResult) -> tuple[list, int, str]:
    """What was decided one by one, how many instructions there are, and what to call the decided ones: the units of
    a flat run; the tested nodes of a tree run (its `units` hold only the units tested on their own)."""
    from promptslim.results.tree import TreeSection

    tree = result.section(TreeSection)
    if tree is None:
        return list(result.units), len(result.units), "units"
    tested = [n for n in tree.nodes if n.tested]
    return tested, sum(len(n.units) for n in tree.nodes if n.parent is None), "tested nodes"


def headline(result: AblationResult) -> str:
    """e.g. 'remove 4 of 12 instructions: −111 tokens/call (−27%), quality −0.004 [−0.015, +0.006], −$44/month',
    marked when the baseline has no headroom over a constant answer (the verdicts then say what the model ignores)."""
    room = result.headroom
    if room is not None and not room.enough:
        score = fmt.number(room.baseline_score)
        return f"⚠️ no headroom (baseline {score}, {room.describe()} {fmt.number(room.trivial_score)}) — {_headline(result)}"
    return _headline(result)


def headroom_view(room: Headroom | None) -> dict | None:
    """The trivial answer's line and the per-label rows, as md, html and eval show them."""
    if room is None:
        return None
    lead = "n/a" if room.lead is None else fmt.signed(room.lead)
    line = (f"{room.describe()} scores {fmt.number(room.trivial_score)} on the eval set's assertions; the baseline "
            f"scores {fmt.number(room.baseline_score)} (lead {lead}; twice the margin is {room.needed:g})")
    rows = [{"label": r.label, "cases": r.cases, "passes": r.passes, "pass_rate": fmt.pct(r.pass_rate),
             "answered": r.answered} for r in room.labels]
    return {"line": line, "enough": room.enough, "labels": rows, "other": room.other_answers}


def _headline(result: AblationResult) -> str:
    slim = result.slim
    units, n_units, what = _tested(result)
    kind = outcome(result)
    if kind == "all keep":
        return f"keep every instruction: removing any one of the {n_units} measurably lowers quality"
    if kind == "not enough evidence":
        count = {v: sum(1 for u in units if u.verdict == v) for v in ("inconclusive", "keep", "removable")}
        text = (f"not enough evidence to remove anything: {count['inconclusive']} of {len(units)} {what} inconclusive"
                + (f", {count['keep']} keep" if count["keep"] else "")
                + (f", {count['removable']} removable alone but not verified together" if count["removable"] else "")
                + f" at {fmt.plural(result.cases, 'case')}")
        mde = result.power.min_detectable_margin
        if mde is not None:
            text += f" (smallest margin this run could detect: {mde:.3f}; margin is {result.margin:g})"
        return text
    base_in = float(result.baseline.input_tokens)
    saved = base_in - float(slim.input_tokens)
    tokens = f"{fmt.signed_tokens(-saved)} tokens/call"
    if base_in > 0:
        tokens += f" ({fmt.signed(-saved / base_in * 100, 0)}%)"
    quality = "quality " + fmt.delta_ci(slim.score_delta, slim.ci)
    if result.calls_per_month:
        money = f"{fmt.usd_compact(-float(slim.usd_per_month_saved or 0.0), sign=True)}/month"
    else:
        per_call = fmt.usd(-float(slim.usd_per_call_saved or 0.0), None, sign=True)
        money = f"{per_call}/call (set calls_per_month for $/month)"
    removed = len(slim.removed)
    return f"remove {removed} of {n_units} instructions: {tokens}, {quality}, {money}"


def units_frame(result: AblationResult) -> "pandas.DataFrame":
    """One row per unit in document order, raw numbers (no formatting), for the CSV."""
    import pandas as pd

    in_slim = set(result.slim.removed)
    rows = []
    for u in result.units:
        ci = u.ci or [None, None]
        rows.append({
            "id": u.id, "line": u.line, "verdict": u.verdict.value,
            "in_slim": u.id in in_slim, "tokens": u.tokens,
            "input_tokens_saved": u.input_tokens_saved,
            "output_tokens_delta": u.output_tokens_delta, "score_delta": u.score_delta,
            "ci_low": ci[0], "ci_high": ci[1], "n": u.n,
            "usd_per_call_saved": u.usd_per_call_saved,
            "usd_per_month_saved": u.usd_per_month_saved, "text": u.text,
            "judge_errors": u.judge_errors.variant, "truncated": u.truncated,
        })
    frame = pd.DataFrame(rows, columns=CSV_COLUMNS)
    estimated = {"tokens": result.unit_tokens_approximate,
                 "input_tokens_saved": result.tokens_source == "estimated"}
    return frame.rename(columns={k: k + APPROX for k, flag in estimated.items() if flag})


def render_markdown(result: AblationResult, diff: str) -> str:
    return fmt.environment().get_template("ablation.md.j2").render(**_view(result, diff))


def render_html(result: AblationResult, diff: str) -> str:
    view = _view(result, diff)
    view["chart_svg"] = ablation_chart_svg(result) if result.units else ""
    view["diff_lines"] = fmt.diff_lines(diff)
    return fmt.environment().get_template("ablation.html.j2").render(**view)


def _view(result: AblationResult, diff: str) -> dict:
    """Everything the templates show, already formatted, so md and html cannot disagree."""
    slim = result.slim
    base = result.baseline
    removed = sorted(slim.removed)
    restored = sorted(slim.restored)
    units = sorted(result.units, key=lambda u: (-(u.usd_per_month_saved or 0.0), u.id))
    rows = []
    for u in units:
        verdict = u.verdict.value
        note = "in slim" if u.id in removed else ("not in slim" if u.id in restored else "")
        # a saving is shown only where it is decided: the unit is in the verified slim prompt or removable
        decided = u.id in removed or verdict == "removable"
        label = f"{fmt.VERDICT_MARK.get(verdict, '')} {verdict}".strip() + (f" ({note})" if note else "")
        rows.append({
            "id": u.id, "line": u.line, "verdict": verdict, "verdict_label": label,
            "verdict_note": note,
            "tokens_saved": fmt.tokens(u.input_tokens_saved) + fmt.approx(result.tokens_source),
            "output_delta": fmt.signed(u.output_tokens_delta, 1),
            "score": fmt.delta_ci(u.score_delta, u.ci),
            "n": u.n,
            "usd_month": fmt.usd(u.usd_per_month_saved) if decided else (
                "— (kept)" if verdict == "keep" else "— (not decided)"),
            "text": fmt.short_text(u.text), "full_text": u.text,
        })
    return {
        "template": result.template,
        "headline": headline(result),
        "outcome": outcome(result),
        "nothing_removable": nothing_removable(result),
        "context": _context(result),
        "provenance": _provenance(result),
        "judge_note": result.judge_note,
        "inconclusive_hint": result.inconclusive_hint,
        "summary": _summary(result, base, slim),
        "rows": rows,
        "pinned": fmt.ids(result.pinned),
        # "Pinned …: 17." read as a count: name what the numbers are
        "pinned_label": ("unit " if len(result.pinned) == 1 else "units ") + fmt.ids(result.pinned),
        "restored": fmt.ids(restored),
        "removed": fmt.ids(removed),
        "slim_path": slim.path,
        "diff": (diff or "").rstrip("\n"),
        "fence": fmt.fence(diff or ""),
        "method": result.method,
        "sections": parts(result),
        "facts": _facts(result),
        "warnings": list(result.warnings),
        "headroom": headroom_view(result.headroom),
    }


def _facts(result: AblationResult) -> list[str]:
    """The run facts, with truncation and judge errors per variant where they differ."""
    units, slim, base = result.units, result.slim, result.baseline
    cut = [("baseline", base.facts.truncated)] + [(f"unit {u.id}", u.truncated) for u in units]
    judged = [("baseline", base.judge_errors)] + [(f"unit {u.id}", u.judge_errors.variant) for u in units]
    if not nothing_removable(result):
        cut.append(("slim", slim.facts.truncated))
        judged.append(("slim", slim.judge_errors))
    return fact_lines(result.run, result.prices, result.tokens_note, cut, judged)


def _context(result: AblationResult) -> list[str]:
    model = result.model
    price_model = result.price_model
    judge = result.judge_model
    parts = [f"model {model}" + (f" (priced as {price_model})" if price_model and price_model != model else "")]
    parts.append("judge: none (assertions only)" if not judge or judge == "none" else f"judge {judge}")
    parts.append(f"{fmt.plural(result.cases, 'case')} × {fmt.plural(result.repeats, 'repeat')}")
    parts.append(f"margin {result.margin:g}")
    run = result.run
    payback = run.payback_hours
    run_line = (
        f"this run: {fmt.usd(run.usd, None if (run.usd or 0) < 0.01 else 2)}, "
        f"{run.calls:,} calls, {run.cache_hits:,} cache hits, "
        f"{run.wall_seconds:,.0f} s"
    )
    if payback is not None and run.usd > 0:  # a run that cost nothing has nothing to pay back ("in 0 min")
        run_line += f", pays for itself in {fmt.hours(payback)}"
    # the method once, on its own line (the HTML printed it twice: here and under the chart)
    lines = [" · ".join(parts), run_line] + ([f"method: {result.method}"] if result.method else [])
    base_err = result.baseline.judge_errors
    unit_err = sum(u.judge_errors.variant for u in result.units)
    if base_err or unit_err:
        lines.append(f"judge errors (cases left out of the paired deltas): baseline {base_err}, "
                     f"leave-one-out variants {unit_err} in all")
    return lines


def _provenance(result: AblationResult) -> str:
    sha = result.template_sha256
    parts = [
        f"eval set {result.evalset}",
        f"{result.calls_per_month or 0:,} calls/month",
        f"commit {fmt.short_commit(result.git_commit)}",
        f"template sha256 {sha[:12]}" if sha else "",
        f"created {result.created_at}",
    ]
    if result.tokens_approximate:
        parts.append("token counts approximate (no exact tokenizer for this model)")
    return " · ".join(p for p in parts if p)


def _summary(result: AblationResult, base: Baseline, slim: SlimFinding) -> list[dict]:
    """Baseline and slim side by side."""
    rows = [{
        "prompt": "baseline",
        "input_tokens": fmt.tokens(base.input_tokens) + fmt.approx(result.tokens_source),
        "output_tokens": fmt.tokens(base.output_tokens),
        "score": fmt.score_ci(base.score, base.ci) + f" (n={result.cases})",
        "pass_rate": fmt.pct(base.pass_rate),
        "usd_call": fmt.usd(base.usd_per_call, None),
        "usd_month": fmt.usd(base.usd_per_month),
        "usd_usable": (
            "n/a (no usable output)" if base.usd_per_usable_output is None
            else fmt.usd(base.usd_per_usable_output, None)
        ),
    }]
    if not nothing_removable(result):
        usd_call = (base.usd_per_call or 0.0) - (slim.usd_per_call_saved or 0.0)
        usd_month = (base.usd_per_month or 0.0) - (slim.usd_per_month_saved or 0.0)
        rows.append({
            "prompt": "slim",
            "input_tokens": fmt.tokens(slim.input_tokens) + fmt.approx(result.tokens_source),
            "output_tokens": fmt.tokens(slim.output_tokens),
            "score": fmt.number(slim.score) + " (Δ " + fmt.delta_ci(slim.score_delta, slim.ci) + ")",
            "pass_rate": "—",
            "usd_call": fmt.usd(usd_call, None),
            "usd_month": fmt.usd(usd_month),
            "usd_usable": "—",
        })
    return rows
