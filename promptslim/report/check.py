"""The PR check as markdown, shaped for one PR comment: a headline per template, details, prompt diffs.

The figures are formatted here (so each cell is one tested function); the layout is check.md.j2.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from promptslim.caveats import local_verdicts

from promptslim.report import fmt
from promptslim.report.facts import fact_lines, price_line
from promptslim.report.mdsafe import code, text
from promptslim.results import CheckResult, CheckRow, CheckSide


def _arrow(base: float | None, head: float | None, show: Callable[[float | None], str]) -> str:
    return f"{'—' if base is None else show(base)} → {'—' if head is None else show(head)}"


def _money(x: float | None) -> str:
    return fmt.number(x, 2)


def _approx(row: CheckRow) -> str:
    """' ≈' on every figure of a row whose input tokens are estimates (no public tokenizer, no server count)."""
    sides = [side for side in (row.base, row.head) if side]
    return " ≈" if any(side.tokens_source == "estimated" for side in sides) else ""


def _tokens_headline(row: CheckRow) -> str:
    b, h = row.base, row.head
    if h is None:
        return ("tokens n/a (does not render without an eval set)" if row.evalset is None
                else "tokens n/a (not graded on the base revision's eval set)")
    approx = _approx(row)
    text = f"{_arrow(b and b.input_tokens, h.input_tokens, lambda x: fmt.tokens(x) + approx)} tokens/call"
    if b is not None and b.input_tokens > 0:
        text += f" ({fmt.signed(100 * (h.input_tokens - b.input_tokens) / b.input_tokens, 0)}%)"
    return text


OUTCOME_TEXT = {
    "pass": "non-inferior",
    "regression": "regression",
    "likely-regression": "likely regression: the estimate is below −margin and the cases agree, not proven",
    "inconclusive": "inconclusive: could not show the head is within the margin",
    "underpowered": "inconclusive: this eval set cannot detect a −0.10 regression",
}


def _quality_headline(row: CheckRow, no_eval: bool) -> str:
    q = row.quality
    if q is not None:
        text = f"quality {fmt.delta_ci(q.delta, q.ci)} ({OUTCOME_TEXT.get(q.outcome, '')})"
        if q.outcome in ("inconclusive", "underpowered") and q.min_detectable is not None:
            text += f"; smallest regression it could detect: {q.min_detectable:.2f}"
        return text
    if no_eval:
        return "quality not evaluated (--no-eval)"
    if row.evalset is None:
        return "quality not evaluated (no eval set)"
    head = row.head
    if head is not None and head.score is not None:
        why = "new template, no base" if row.status == "added" else "no base comparison"
        return f"quality {fmt.score_ci(head.score, head.ci)} ({why})"
    return "quality not evaluated"


def _money_headline(row: CheckRow) -> str:
    b, h = row.base, row.head
    text = f"$/month {_arrow(b and b.usd_per_month, h and h.usd_per_month, _money)}"
    if row.usd_per_month_delta is not None:
        text += f" ({fmt.signed(row.usd_per_month_delta, 2)})"
    return text


def _name(row: CheckRow) -> str:
    if row.status in ("renamed", "copied"):
        return f"{code(row.template)} ({row.status} from {code(row.base_path)})"
    if row.status in ("added", "deleted"):
        return f"{code(row.template)} ({row.status})"
    return code(row.template)


def _undecided(row: CheckRow) -> bool:
    q = row.quality
    return q is not None and q.outcome in ("inconclusive", "underpowered")


def _mark(row: CheckRow) -> str:
    """❌ failed; ⚠️ passed without showing the quality held (never ✅ for "could not tell")."""
    if row.failed:
        return "❌"
    return "⚠️" if _undecided(row) else "✅"


def _headline(row: CheckRow, no_eval: bool) -> str:
    mark = _mark(row)
    if row.status == "deleted":
        b = row.base
        if b is None:
            return f"- {mark} {_name(row)} — no figures (does not render without an eval set)"
        return (f"- {mark} {_name(row)} — was {fmt.tokens(b.input_tokens)}{_approx(row)} tokens/call; "
                f"$/month {_money(b.usd_per_month)} goes away ({fmt.signed(-b.usd_per_month, 2)})")
    parts = [_tokens_headline(row), _quality_headline(row, no_eval), _money_headline(row)]
    line = f"- {mark} {_name(row)} — " + " · ".join(parts)
    if row.failed:
        line += " — **" + text("; ".join(row.failures)) + "**"
    return line


def _cell(side: CheckSide | None, key: str, show: Callable[[Any], str]) -> str:
    value = None if side is None else getattr(side, key)
    return "—" if value is None else show(value)


def _pair(row: CheckRow, key: str, show: Callable[[Any], str]) -> str:
    return f"{_cell(row.base, key, show)} → {_cell(row.head, key, show)}"


def _details_row(r: CheckRow) -> list[str]:
    evalset = "—" if r.evalset is None else f"{code(r.evalset, table=True)} ({r.cases} cases"
    if r.evalset is not None:
        evalset += _evalset_cell_note(r)
    budget = r.max_input_tokens
    approx = _approx(r)
    largest = _cell(r.head, "input_tokens_max", lambda x: f"{x:,}{approx}") + (f" ({budget:,})" if budget else "")
    q = r.quality
    delta = fmt.delta_ci(q.delta, q.ci) if q else "—"
    result = "❌ " + text("; ".join(r.failures), table=True) if r.failed else (
        "⚠️ inconclusive" if _undecided(r) else "✅")
    cells = [code(r.template, table=True), r.status, evalset,
             _pair(r, "input_tokens", lambda x: fmt.tokens(x) + approx), largest, _pair(r, "output_tokens", fmt.tokens),
             _pair(r, "score", fmt.number), delta, _pair(r, "pass_rate", fmt.pct), _pair(r, "usd_per_month", _money),
             result]
    return cells  # every piece above is ours, a number, or made safe where it came in


def _evalset_cell_note(r: CheckRow) -> str:
    if r.evalset_note == "new":
        return ", new in this PR: review it)"
    if r.evalset_revision == "base" and r.evalset_note in ("changed", "deleted"):
        return f", the base revision's; {r.evalset_note} in this PR, not applied)"
    return ", changed in this PR)" if r.evalset_note == "changed" else ")"


def _evalset_note(r: CheckRow) -> str | None:
    """Which eval set graded the row, when the pull request touched it (a line above the details)."""
    if r.status == "deleted" or r.evalset_note is None:
        return None
    if r.evalset_note == "new":
        return (f"- {code(r.template)}: its eval set {code(r.evalset)} comes from this PR (the base has none to "
                "trust) — a reviewer must read it")
    if r.evalset_revision == "head":
        return (f"- {code(r.template)}: its eval set at the base does not load, so both sides were graded on this "
                f"PR's {code(r.evalset)} — a reviewer must read it")
    verb = "deletes" if r.evalset_note == "deleted" else "changes"
    return (f"- {code(r.template)}: this PR {verb} its eval set — not applied: base and head were both graded on the "
            f"base revision's {code(r.evalset)} ({r.cases} cases); the changes are listed below for review")


def _labels_note(r: CheckRow) -> str | None:
    """Per-label pass rates, base → head, on a label task (each case passed by exactly one label)."""
    rates = {side: {x.label: x for x in (getattr(r, side).headroom.labels if getattr(r, side) and
                                         getattr(r, side).headroom else [])} for side in ("base", "head")}
    labels = list(dict.fromkeys([*rates["base"], *rates["head"]]))
    if not labels:
        return None

    def cell(side: str, label: str) -> str:
        x = rates[side].get(label)
        return "—" if x is None else f"{x.passes}/{x.cases}"

    return (f"- {code(r.template)} per label, passed/cases base → head: "
            + " · ".join(f"{code(lb)} {cell('base', lb)} → {cell('head', lb)}" for lb in labels))


def _ablate_note(r: CheckRow) -> str | None:
    """Why check and the latest ablation of the base text decide the same removal differently (issue 24)."""
    a = r.ablate
    if a is None:
        return None
    what = (f"unit {code(a.removed[0])} ({code(fmt.short_text(a.text))})" if len(a.removed) == 1
            else f"the slim prompt's units {_ids(a.removed)}")
    return (f"- ℹ️ {code(r.template)}: this change removes {what}, which the latest `ablate` of the base text "
            f"({a.created_at[:10]}) called **{a.ablate_verdict}**, while this check finds it **{a.check_verdict}**: "
            f"ablate tests its {a.units} removals together (Holm, so the chance of any wrong `removable` stays at 5% "
            f"and each unit faces a stricter test), check tests this one change on its own — each answers its own "
            f"question on the same kind of data")


def _ids(ids: list[str]) -> str:
    return ", ".join(code(i) for i in ids)


def _evalset_changes(r: CheckRow) -> list[str]:
    """The PR's eval-set changes of one template, as markdown list lines (shown, not applied)."""
    c = r.evalset_changes
    if c is None:
        return []
    if c.head_path is None:
        lines = [f"- {code(c.base_path)} ({code(r.template)}): deleted in this PR ({len(c.removed)} cases)"]
    else:
        moved = f" → {code(c.head_path)}" if c.head_path != c.base_path else ""
        parts = [f"{what} {_ids(ids)}" for what, ids in (("added", c.added), ("removed", c.removed),
                                                          ("changed", c.changed)) if ids]
        lines = [f"- {code(c.base_path)}{moved} ({code(r.template)}): " + ("; ".join(parts) or "no case added, "
                                                                              "removed or changed")]
    lines += [f"  - {code(s.key)}: {text(repr(s.base))} → {text(repr(s.head))}" for s in c.settings]
    h = c.head_cases
    if h is not None:
        lines.append(f"  - on this PR's new/changed cases ({len(h.cases)}), the head template, graded by this PR's "
                     f"eval set — information, not the gate: {h.usable} of {h.graded} usable "
                     f"(score {fmt.score_ci(h.score, h.ci)})")
    return lines


def _fence(text: str) -> str:
    """A code fence longer than any backtick run inside, so a prompt cannot close it early."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    return "`" * max(3, max(runs, default=0) + 1)


def _facts(data: CheckResult) -> list[str]:
    """The run facts (after an evaluation) or the static counts' provenance (--no-eval), one line each."""
    if data.run is not None:
        judged = [(f"{side} of {code(r.template)}", getattr(r, side).judge_errors)
                  for r in data.templates for side in ("base", "head") if getattr(r, side)]
        cut = [(f"{side} of {code(r.template)}", getattr(r, side).truncated)
               for r in data.templates for side in ("base", "head") if getattr(r, side)]
        return [text(line) for line in fact_lines(data.run, data.prices, data.tokens_note, cut, judged)]
    # the token statement is the footer's (one statement: it said "exact" there and "estimated ≈" here)
    return [text(line) for line in (price_line(data.prices),) if line]


def verdict(data: CheckResult) -> str:
    """The outcome in words, from counts alone: nothing a pull request names can hide or fake it."""
    rows = data.templates
    changed = fmt.plural(len(rows), "changed template")
    failed = sum(1 for r in rows if r.failed)
    undecided = sum(1 for r in rows if _undecided(r) and not r.failed)
    if failed:
        return f"❌ promptslim check failed: {failed} of {changed}"
    if undecided:
        return f"⚠️ promptslim check passed with a warning: quality not shown to hold for {undecided} of {changed}"
    return f"✅ promptslim check passed: {changed}" + (", no regression" if rows else "")


def _title(data: CheckResult) -> str:
    """check.md's first line: the verdict, then the base (the ref comes from the command line, shown as code)."""
    short, ref = data.base_sha[:7], data.base
    shown = code(short) if data.base_sha.startswith(ref) else f"{code(ref)} ({code(short)})"
    return f"## {verdict(data)} — base {shown}"


def _view(data: CheckResult) -> dict[str, Any]:
    rows = data.templates
    sections = []
    for r in rows:
        if r.status == "deleted":
            continue
        shown = ("" if r.rendered_diff else
                 "rendered prompt unchanged (first eval case)" if r.head else "rendered prompt: n/a")
        sections.append({"template": code(r.template), "diff": r.rendered_diff, "fence": _fence(r.rendered_diff),
                         "text": shown})
    return {
        "title": _title(data),
        "rows": rows,
        "nothing": (f"no prompt templates changed since {code(data.base)}"
                    + (f" among {', '.join(code(t) for t in data.restricted_to)}" if data.restricted_to else "")
                    + " — nothing to check."),
        "headlines": [_headline(r, data.no_eval) for r in rows],
        "warnings": [text(w) for w in data.warnings]
                    + [text(f"{code(r.template)} (base): {w}") for r in rows
                       if r.base and r.base.headroom and (w := r.base.headroom.warning())],
        "undecided": sum(1 for r in rows if _undecided(r) and not r.failed),
        "notes": [line for line in map(_evalset_note, rows) if line]
                 + [f"- {code(r.template)}: {text(r.base_note)} — no base comparison" for r in rows if r.base_note]
                 + [f"- {code(r.template)}: {text(r.review_note)}" for r in rows if r.review_note]
                 + [line for line in map(_ablate_note, rows) if line]
                 + [line for line in map(_labels_note, rows) if line],
        "details": [_details_row(r) for r in rows],
        "cheaper": [_cheaper_line(r) for r in rows if r.also_models is not None],
        "data": data,
        "margin": _margin(data),
        "facts": _facts(data),
        "sections": sections,
        "evalset_changes": [line for r in rows for line in _evalset_changes(r)],
        "config_changes": [(code(c.key, table=True), text(repr(c.base), table=True), text(repr(c.head), table=True))
                           for c in data.config_changes],
        "local_caveat": local_verdicts(data.local_model) if data.local_model and not data.no_eval else None,
        "output_notes": text("; ".join(f"{code(r.template)} {(r.base or r.head).output_note}"
                                       for r in rows if r.base or r.head)),
    }


def _margin(data: CheckResult) -> str:
    """The check's margin, and any template the base config gives a margin of its own."""
    own = [f"`{r.template}` {r.margin:g} ({r.margin_source})" for r in data.templates
           if r.margin is not None and r.margin != data.gates.margin]
    return f"{data.gates.margin:g}" + (f" ({'; '.join(own)})" if own else "")


def _cheaper_line(r: CheckRow) -> str:
    """check --also-model: the cheaper model the head would pass on, or how each candidate fared (never a gate)."""
    if r.cheaper_model:
        best = next(m for m in r.also_models or [] if m.model == r.cheaper_model)
        return (f"💡 {code(r.template)} would also pass on **{r.cheaper_model}**: non-inferior to the head on the configured "
                f"model (Δ {fmt.delta_ci(best.score_delta, best.ci)}), {fmt.usd(r.cheaper_model_usd_per_month_saved)}"
                f"/month less")
    shown = ", ".join(f"{m.model} {m.verdict} (Δ {fmt.delta_ci(m.score_delta, m.ci)})" for m in r.also_models or [])
    return f"{code(r.template)}: no cheaper model shown to pass — {shown}"


def render_markdown(data: CheckResult) -> str:
    """The PR comment: title, one headline per template, a details table, rendered prompt diffs, and the
    eval-set and config changes a reviewer must see (not applied)."""
    return fmt.environment().get_template("check.md.j2").render(**_view(data)).rstrip("\n")
