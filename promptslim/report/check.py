"""The PR check as markdown, shaped for one PR comment: a headline per template, details, prompt diffs."""

from __future__ import annotations

import re
from typing import Any, Callable

from promptslim.report import fmt
from promptslim.report.facts import fact_lines, price_line

def _arrow(base: float | None, head: float | None, show: Callable[[float | None], str]) -> str:
    return f"{'—' if base is None else show(base)} → {'—' if head is None else show(head)}"


def _money(x: float | None) -> str:
    return fmt.number(x, 2)


def _approx(row: dict) -> str:
    """' ≈' on every figure of a row whose input tokens are estimates (no public tokenizer, no server count)."""
    sides = [side for side in (row["base"], row["head"]) if side]
    return " ≈" if any(side.get("tokens_source") == "estimated" for side in sides) else ""


def _tokens_headline(row: dict) -> str:
    b, h = row["base"], row["head"]
    if h is None:
        return "tokens n/a (does not render without an eval set)"
    approx = _approx(row)
    text = f"{_arrow(b and b['input_tokens'], h['input_tokens'], lambda x: fmt.tokens(x) + approx)} tokens/call"
    if b is not None and b["input_tokens"] > 0:
        text += f" ({fmt.signed(100 * (h['input_tokens'] - b['input_tokens']) / b['input_tokens'], 0)}%)"
    return text


OUTCOME_TEXT = {
    "pass": "non-inferior",
    "regression": "regression",
    "inconclusive": "inconclusive: could not show the head is within the margin",
    "underpowered": "inconclusive: this eval set cannot detect a −0.10 regression",
}


def _quality_headline(row: dict, no_eval: bool) -> str:
    q = row["quality"]
    if q is not None:
        text = f"quality {fmt.delta_ci(q['delta'], q['ci'])} ({OUTCOME_TEXT.get(q.get('outcome', ''), '')})"
        if q.get("outcome") in ("inconclusive", "underpowered") and q.get("min_detectable") is not None:
            text += f"; smallest regression it could detect: {q['min_detectable']:.2f}"
        return text
    if no_eval:
        return "quality not evaluated (--no-eval)"
    if row["evalset"] is None:
        return "quality not evaluated (no eval set)"
    head = row["head"]
    if head is not None and head["score"] is not None:
        why = "new template, no base" if row["status"] == "added" else "no base comparison"
        return f"quality {fmt.score_ci(head['score'], head['ci'])} ({why})"
    return "quality not evaluated"


def _money_headline(row: dict) -> str:
    b, h = row["base"], row["head"]
    text = f"$/month {_arrow(b and b['usd_per_month'], h and h['usd_per_month'], _money)}"
    if row["usd_per_month_delta"] is not None:
        text += f" ({fmt.signed(row['usd_per_month_delta'], 2)})"
    return text


def _name(row: dict) -> str:
    if row["status"] == "renamed":
        return f"`{row['base_path']}` → `{row['template']}` (renamed)"
    if row["status"] in ("added", "deleted"):
        return f"`{row['template']}` ({row['status']})"
    return f"`{row['template']}`"


def _undecided(row: dict) -> bool:
    q = row.get("quality")
    return q is not None and q.get("outcome") in ("inconclusive", "underpowered")


def _mark(row: dict) -> str:
    """❌ failed; ⚠️ passed without showing the quality held (never ✅ for "could not tell")."""
    if row["failed"]:
        return "❌"
    return "⚠️" if _undecided(row) else "✅"


def _headline(row: dict, no_eval: bool) -> str:
    mark = _mark(row)
    if row["status"] == "deleted":
        b = row["base"]
        if b is None:
            return f"- {mark} {_name(row)} — no figures (does not render without an eval set)"
        return (f"- {mark} {_name(row)} — was {fmt.tokens(b['input_tokens'])}{_approx(row)} tokens/call; "
                f"$/month {_money(b['usd_per_month'])} goes away ({fmt.signed(-b['usd_per_month'], 2)})")
    parts = [_tokens_headline(row), _quality_headline(row, no_eval), _money_headline(row)]
    line = f"- {mark} {_name(row)} — " + " · ".join(parts)
    if row["failed"]:
        line += " — **" + "; ".join(row["failures"]) + "**"
    return line


def _cell(side: dict | None, key: str, show: Callable[[Any], str]) -> str:
    return "—" if side is None or side.get(key) is None else show(side[key])


def _pair(row: dict, key: str, show: Callable[[Any], str]) -> str:
    return f"{_cell(row['base'], key, show)} → {_cell(row['head'], key, show)}"


def _details_table(rows: list[dict]) -> list[str]:
    lines = ["| template | change | eval set | input tok/call | largest case (budget) | output tok/call | score "
             "| Δ score [95% CI] | pass rate | $/month | result |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        evalset = "—" if r["evalset"] is None else f"`{r['evalset']}` ({r['cases']} cases"
        if r["evalset"] is not None:
            evalset += {"changed": ", changed in this PR)", "new": ", new in this PR)"}.get(r["evalset_note"], ")")
        budget = r["max_input_tokens"]
        approx = _approx(r)
        largest = _cell(r["head"], "input_tokens_max", lambda x: f"{x:,}{approx}") + (f" ({budget:,})" if budget else "")
        q = r["quality"]
        delta = fmt.delta_ci(q["delta"], q["ci"]) if q else "—"
        result = "❌ " + "; ".join(r["failures"]) if r["failed"] else (
            "⚠️ inconclusive" if _undecided(r) else "✅")
        cells = [f"`{r['template']}`", r["status"], evalset, _pair(r, "input_tokens", lambda x: fmt.tokens(x) + approx), largest,
                 _pair(r, "output_tokens", fmt.tokens), _pair(r, "score", fmt.number), delta,
                 _pair(r, "pass_rate", fmt.pct), _pair(r, "usd_per_month", _money), result]
        lines.append("| " + " | ".join(fmt.md_cell(c) for c in cells) + " |")
    return lines


def _fence(text: str) -> str:
    """A code fence longer than any backtick run inside, so a prompt cannot close it early."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    return "`" * max(3, max(runs, default=0) + 1)


def _facts(data: dict) -> list[str]:
    """The run facts (after an evaluation) or the static counts' provenance (--no-eval), one bullet each."""
    lines = []
    if data.get("run") and "answers" in data["run"]:
        judged = [(f"{side} of `{r['template']}`", (r[side] or {}).get("judge_errors", 0))
                  for r in data["templates"] for side in ("base", "head") if r.get(side)]
        cut = [(f"{side} of `{r['template']}`", (r[side] or {}).get("truncated", 0))
               for r in data["templates"] for side in ("base", "head") if r.get(side)]
        lines = fact_lines({**data, "prices": data.get("prices")}, cut, judged)
    else:
        lines = [line for line in (price_line(data.get("prices")),) if line]
        if data.get("tokens_note"):
            lines.append(f"token counts: {data['tokens_note']}")
    return ["", "Run facts:", ""] + [f"- {line}" for line in lines] if lines else []


def render_markdown(data: dict) -> str:
    """The PR comment: title, one headline per template, a details table, rendered prompt diffs."""
    short, ref = data["base_sha"][:7], data["base"]
    shown = f"`{short}`" if data["base_sha"].startswith(ref) else f"`{ref}` (`{short}`)"
    lines = [f"## promptslim check — base {shown}", ""]
    rows = data["templates"]
    if not rows:
        only = f" among {', '.join(data['restricted_to'])}" if data.get("restricted_to") else ""
        lines.append(f"no prompt templates changed since {ref}{only} — nothing to check.")
        return "\n".join(lines)
    lines += [_headline(r, data["no_eval"]) for r in rows] + [""]
    if data.get("local_model") and not data["no_eval"]:
        from promptslim.caveats import local_verdicts

        lines += [f"> ⚠️ **Small local model:** {local_verdicts(data['local_model'])}.", ""]
    lines += [line for w in data.get("warnings") or [] for line in (f"> ⚠️ **Warning:** {w}", "")]
    undecided = [r for r in rows if _undecided(r) and not r["failed"]]
    if undecided:
        lines += [f"> ⚠️ **Warning:** quality could not be shown to hold for {len(undecided)} template(s) — the "
                  "eval set is too small or too noisy to tell a harmless change from a regression. This check "
                  "passes anyway; `--require-noninferior` makes it fail. Add cases to decide.", ""]
    notes = [f"- `{r['template']}`: its eval set changed in this PR — base and head were both evaluated on the new "
             f"`{r['evalset']}`" for r in rows if r["evalset_note"] == "changed" and r["status"] != "added"]
    notes += [f"- `{r['template']}`: {r['base_note']} — no base comparison" for r in rows if r["base_note"]]
    if notes:
        lines += notes + [""]
    lines += ["### details", ""] + _details_table(rows) + [""]
    if data["no_eval"]:
        lines.append(f"Static check (`--no-eval`), no API call: exact input tokens ({data['price_model']} tokenizer); "
                     f"$/month at {data['price_model']} prices ({data['price_source']}) and each template's "
                     "calls_per_month; output per template: "
                     + "; ".join(f"`{r['template']}` {(r['base'] or r['head'])['output_note']}" for r in rows
                                 if r['base'] or r['head']) + ".")
    else:
        lines.append(f"Model `{data['model']}`, judge `{data['judge_model']}`, margin {data['gates']['margin']:g}. "
                     f"Δ = head − base, paired over the eval cases, one-sided 95% bounds: non-inferior when the lower "
                     "bound is above −margin, regression when the upper bound is below 0 and non-inferiority is not "
                     f"shown. $/month at {data['price_model']} prices "
                     f"({data['price_source']}) and each template's calls_per_month.")
    run = data.get("run")
    if run:
        lines.append(f"This check: {run['calls']} API calls, {run['cache_hits']} cached, ${run['usd']:.4f}.")
    lines += _facts(data)
    lines.append("")
    for r in rows:
        if r["status"] == "deleted":
            continue
        lines.append(f"#### `{r['template']}`")
        lines.append("")
        if not r["rendered_diff"]:
            lines += ["rendered prompt unchanged (first eval case)" if r["head"] else "rendered prompt: n/a", ""]
            continue
        fence = _fence(r["rendered_diff"])
        lines += ["<details><summary>rendered prompt diff</summary>", "", f"{fence}diff", r["rendered_diff"], fence,
                  "", "</details>", ""]
    return "\n".join(lines).rstrip()
