"""Ablation reports: ablation.json, .md, .csv and .html from the engine's result dict."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from promptslim.safeio import atomic_write

from . import fmt
from .chart import ablation_chart_svg
from .facts import fact_lines

if TYPE_CHECKING:
    import pandas

CSV_COLUMNS = [
    "id", "line", "verdict", "in_slim", "tokens", "input_tokens_saved", "output_tokens_delta",
    "score_delta", "ci_low", "ci_high", "n", "usd_per_call_saved", "usd_per_month_saved", "text",
    "judge_errors", "truncated",
]
APPROX = " ≈"  # header suffix of a CSV column whose figures are estimates (no public tokenizer, no server count)


def write_ablation_reports(result: dict, outdir: Path, diff: str) -> dict[str, Path]:
    """Write ablation.json, ablation.md, ablation.csv, ablation.html into outdir (created); return {"json": path, ...}."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {kind: outdir / f"ablation.{kind}" for kind in ("json", "md", "csv", "html")}
    contents = {
        "json": json.dumps(result, indent=2, ensure_ascii=False) + "\n",
        "md": render_markdown(result, diff),
        "csv": units_frame(result).to_csv(index=False),
        "html": render_html(result, diff),
    }
    for kind, path in paths.items():
        # "\n" on every OS, so reports diff cleanly in git; temp file + rename, so readers never see half a file
        atomic_write(path, contents[kind])
    return paths


def nothing_removable(result: dict) -> bool:
    slim = result.get("slim") or {}
    return not slim.get("removed") or slim.get("verdict") != "removable"


def outcome(result: dict) -> str:
    """Which of the three headlines: 'removable' (a verified slim prompt), 'all keep', or 'not enough evidence'."""
    if not nothing_removable(result):
        return "removable"
    units = result.get("units") or []
    if units and all(u.get("verdict") == "keep" for u in units):
        return "all keep"
    return "not enough evidence"


def headline(result: dict) -> str:
    """e.g. 'remove 4 of 12 instructions: −111 tokens/call (−27%), quality −0.004 [−0.015, +0.006], −$44/month'"""
    slim = result["slim"]
    units = result.get("units") or []
    n_units = len(units)
    kind = outcome(result)
    if kind == "all keep":
        return f"keep every instruction: removing any one of the {n_units} measurably lowers quality"
    if kind == "not enough evidence":
        count = {v: sum(1 for u in units if u.get("verdict") == v) for v in ("inconclusive", "keep", "removable")}
        text = (f"not enough evidence to remove anything: {count['inconclusive']} of {n_units} units inconclusive"
                + (f", {count['keep']} keep" if count["keep"] else "")
                + (f", {count['removable']} removable alone but not verified together" if count["removable"] else "")
                + f" at {fmt.plural(result.get('cases', 0), 'case')}")
        mde = (result.get("power") or {}).get("min_detectable_margin")
        if mde is not None:
            text += f" (smallest margin this run could detect: {mde:.3f}; margin is {result.get('margin', 0):g})"
        return text
    base_in = float(result["baseline"]["input_tokens"])
    saved = base_in - float(slim["input_tokens"])
    tokens = f"{fmt.signed_tokens(-saved)} tokens/call"
    if base_in > 0:
        tokens += f" ({fmt.signed(-saved / base_in * 100, 0)}%)"
    quality = "quality " + fmt.delta_ci(slim.get("score_delta"), slim.get("ci"))
    if result.get("calls_per_month"):
        money = f"{fmt.usd_compact(-float(slim.get('usd_per_month_saved') or 0.0), sign=True)}/month"
    else:
        per_call = fmt.usd(-float(slim.get("usd_per_call_saved") or 0.0), None, sign=True)
        money = f"{per_call}/call (set calls_per_month for $/month)"
    removed = len(slim["removed"])
    return f"remove {removed} of {n_units} instructions: {tokens}, {quality}, {money}"


def units_frame(result: dict) -> "pandas.DataFrame":
    """One row per unit in document order, raw numbers (no formatting), for the CSV."""
    import pandas as pd

    in_slim = set((result.get("slim") or {}).get("removed") or [])
    rows = []
    for u in result.get("units") or []:
        ci = u.get("ci") or [None, None]
        rows.append({
            "id": u["id"], "line": u.get("line"), "verdict": u.get("verdict"),
            "in_slim": u["id"] in in_slim, "tokens": u.get("tokens"),
            "input_tokens_saved": u.get("input_tokens_saved"),
            "output_tokens_delta": u.get("output_tokens_delta"), "score_delta": u.get("score_delta"),
            "ci_low": ci[0], "ci_high": ci[1], "n": u.get("n"),
            "usd_per_call_saved": u.get("usd_per_call_saved"),
            "usd_per_month_saved": u.get("usd_per_month_saved"), "text": u.get("text", ""),
            "judge_errors": (u.get("judge_errors") or {}).get("variant"), "truncated": u.get("truncated"),
        })
    frame = pd.DataFrame(rows, columns=CSV_COLUMNS)
    estimated = {"tokens": result.get("unit_tokens_approximate", False),
                 "input_tokens_saved": result.get("tokens_source") == "estimated"}
    return frame.rename(columns={k: k + APPROX for k, flag in estimated.items() if flag})


def render_markdown(result: dict, diff: str) -> str:
    return fmt.environment().get_template("ablation.md.j2").render(**_view(result, diff))


def render_html(result: dict, diff: str) -> str:
    view = _view(result, diff)
    view["chart_svg"] = ablation_chart_svg(result) if result.get("units") else ""
    view["diff_lines"] = diff_lines(diff)
    return fmt.environment().get_template("ablation.html.j2").render(**view)


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, line) per unified-diff line: add, del, hunk, meta or ctx."""
    out = []
    for line in (diff or "").splitlines():
        if line.startswith(("+++", "---")):
            kind = "meta"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out


def _view(result: dict, diff: str) -> dict:
    """Everything the templates show, already formatted, so md and html cannot disagree."""
    slim = result.get("slim") or {}
    base = result["baseline"]
    removed = sorted(slim.get("removed") or [])
    restored = sorted(slim.get("restored") or [])
    units = sorted(
        result.get("units") or [],
        key=lambda u: (-(u.get("usd_per_month_saved") or 0.0), u["id"]),
    )
    rows = []
    for u in units:
        verdict = u.get("verdict", "")
        note = "in slim" if u["id"] in removed else ("not in slim" if u["id"] in restored else "")
        # a saving is shown only where it is decided: the unit is in the verified slim prompt or removable
        decided = u["id"] in removed or verdict == "removable"
        label = f"{fmt.VERDICT_MARK.get(verdict, '')} {verdict}".strip() + (f" ({note})" if note else "")
        rows.append({
            "id": u["id"], "line": u.get("line", ""), "verdict": verdict, "verdict_label": label,
            "verdict_note": note,
            "tokens_saved": fmt.tokens(u.get("input_tokens_saved")) + _approx(result),
            "output_delta": fmt.signed(u.get("output_tokens_delta"), 1),
            "score": fmt.delta_ci(u.get("score_delta"), u.get("ci")),
            "n": u.get("n", ""),
            "usd_month": fmt.usd(u.get("usd_per_month_saved")) if decided else (
                "— (kept)" if verdict == "keep" else "— (not decided)"),
            "text": fmt.short_text(u.get("text", "")), "full_text": u.get("text", ""),
        })
    return {
        "template": result.get("template", ""),
        "headline": headline(result),
        "outcome": outcome(result),
        "nothing_removable": nothing_removable(result),
        "context": _context(result),
        "provenance": _provenance(result),
        "judge_note": result.get("judge_note"),
        "inconclusive_hint": result.get("inconclusive_hint"),
        "summary": _summary(result, base, slim),
        "rows": rows,
        "pinned": fmt.ids(result.get("pinned") or []),
        # "Pinned …: 17." read as a count: name what the numbers are
        "pinned_label": ("unit " if len(result.get("pinned") or []) == 1 else "units ") + fmt.ids(result.get("pinned") or []),
        "restored": fmt.ids(restored),
        "removed": fmt.ids(removed),
        "slim_path": slim.get("path", ""),
        "diff": (diff or "").rstrip("\n"),
        "fence": "`" * max(3, _longest_backtick_run(diff or "") + 1),
        "method": result.get("method", ""),
        "facts": _facts(result),
        "warnings": list(result.get("warnings") or []),
    }


def _facts(result: dict) -> list[str]:
    """The run facts, with truncation and judge errors per variant where they differ (reports from before issue 17
    have none)."""
    if "answers" not in (result.get("run") or {}):
        return []
    units = result.get("units") or []
    slim = result.get("slim") or {}
    base = result.get("baseline") or {}
    cut = [("baseline", base.get("truncated") or 0)] + [(f"unit {u['id']}", u.get("truncated") or 0) for u in units]
    judged = [("baseline", base.get("judge_errors") or 0)] + [
        (f"unit {u['id']}", (u.get("judge_errors") or {}).get("variant", 0)) for u in units]
    if not nothing_removable(result):
        cut.append(("slim", slim.get("truncated") or 0))
        judged.append(("slim", slim.get("judge_errors") or 0))
    return fact_lines(result, cut, judged)


def _context(result: dict) -> list[str]:
    model = result.get("model", "?")
    price_model = result.get("price_model")
    judge = result.get("judge_model")
    parts = [f"model {model}" + (f" (priced as {price_model})" if price_model and price_model != model else "")]
    parts.append("judge: none (assertions only)" if not judge or judge == "none" else f"judge {judge}")
    cases, repeats = result.get("cases", 0), result.get("repeats", 1)
    parts.append(f"{fmt.plural(cases, 'case')} × {fmt.plural(repeats, 'repeat')}")
    parts.append(f"margin {result.get('margin', 0):g}")
    if result.get("method"):
        parts.append(result["method"])
    run = result.get("run") or {}
    payback = run.get("payback_hours")
    run_line = (
        f"this run: {fmt.usd(run.get('usd'), None if (run.get('usd') or 0) < 0.01 else 2)}, "
        f"{run.get('calls', 0):,} calls, {run.get('cache_hits', 0):,} cache hits, "
        f"{run.get('wall_seconds', 0):,.0f} s"
    )
    if payback is not None:
        run_line += f", pays for itself in {fmt.hours(payback)}"
    lines = [" · ".join(parts), run_line]
    base_err = (result.get("baseline") or {}).get("judge_errors") or 0
    unit_err = sum((u.get("judge_errors") or {}).get("variant", 0) for u in result.get("units") or [])
    if base_err or unit_err:
        lines.append(f"judge errors (cases left out of the paired deltas): baseline {base_err}, "
                     f"leave-one-out variants {unit_err} in all")
    return lines


def _provenance(result: dict) -> str:
    sha = result.get("template_sha256") or ""
    parts = [
        f"eval set {result.get('evalset', '?')}",
        f"{result.get('calls_per_month') or 0:,} calls/month",
        f"commit {fmt.short_commit(result.get('git_commit'))}",
        f"template sha256 {sha[:12]}" if sha else "",
        f"created {result.get('created_at', '')}",
    ]
    if result.get("tokens_approximate"):
        parts.append("token counts approximate (no exact tokenizer for this model)")
    return " · ".join(p for p in parts if p)


def _summary(result: dict, base: dict, slim: dict) -> list[dict]:
    """Baseline and slim side by side."""
    rows = [{
        "prompt": "baseline",
        "input_tokens": fmt.tokens(base.get("input_tokens")) + _approx(result),
        "output_tokens": fmt.tokens(base.get("output_tokens")),
        "score": fmt.score_ci(base.get("score"), base.get("ci")) + f" (n={result.get('cases', 0)})",
        "pass_rate": fmt.pct(base.get("pass_rate")),
        "usd_call": fmt.usd(base.get("usd_per_call"), None),
        "usd_month": fmt.usd(base.get("usd_per_month")),
        "usd_usable": (
            "n/a (no usable output)" if base.get("usd_per_usable_output") is None
            else fmt.usd(base["usd_per_usable_output"], None)
        ),
    }]
    if not nothing_removable(result):
        usd_call = (base.get("usd_per_call") or 0.0) - (slim.get("usd_per_call_saved") or 0.0)
        usd_month = (base.get("usd_per_month") or 0.0) - (slim.get("usd_per_month_saved") or 0.0)
        rows.append({
            "prompt": "slim",
            "input_tokens": fmt.tokens(slim.get("input_tokens")) + _approx(result),
            "output_tokens": fmt.tokens(slim.get("output_tokens")),
            "score": fmt.number(slim.get("score")) + " (Δ " + fmt.delta_ci(slim.get("score_delta"), slim.get("ci")) + ")",
            "pass_rate": "—",
            "usd_call": fmt.usd(usd_call, None),
            "usd_month": fmt.usd(usd_month),
            "usd_usable": "—",
        })
    return rows


def _approx(result: dict) -> str:
    """' ≈' after an input-token figure that is an estimate, on every line it appears."""
    return " ≈" if result.get("tokens_source") == "estimated" else ""


def _longest_backtick_run(text: str) -> int:
    best = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        best = max(best, run)
    return best
