"""The say-it-shorter lever's report partial: every tested wording with its verdict, the rewritten prompt, the
refused ones (templates/_rewrites.md.j2 and _rewrites.html.j2)."""

from __future__ import annotations

import difflib

from promptslim.report import fmt
from promptslim.report.sections import partial
from promptslim.results import AblationResult
from promptslim.results.rewrites import RewritesSection


@partial(RewritesSection, "rewrites")
def view(section: RewritesSection, result: AblationResult) -> dict:
    """The say-it-shorter section (ablate --rewrite): before/after, tokens saved, verdict. A whole-text rewrite is
    too long for a table cell: its row points to its diff, shown below the table."""
    rows = [{"unit": "all" if r.whole_text else ", ".join(map(str, r.unit_ids)),
             "before": f"(the whole text, {len(r.original.splitlines())} lines)" if r.whole_text else r.original,
             "after": "(the diff below)" if r.whole_text else r.rewrite or "(dropped: repeat)",
             "by": r.proposer, "tokens_saved": fmt.tokens(r.input_tokens_saved) + fmt.approx(result.tokens_source),
             "score": fmt.delta_ci(r.score_delta, r.ci), "verdict": str(r.verdict) + (" (adopted)" if r.adopted else ""),
             # a saving is shown only where quality was shown to hold, as for units
             "usd_month": fmt.usd(r.usd_per_month_saved) if r.verdict == "non-inferior" else f"— ({r.verdict})"}
            for r in section.rewrites]
    whole = next((r for r in section.rewrites if r.whole_text), None)
    diff = "".join(difflib.unified_diff(whole.original.splitlines(keepends=True),
                                        whole.rewrite.splitlines(keepends=True), fromfile=result.template,
                                        tofile="whole-text rewrite")) if whole else ""
    w = section.rewritten
    level = f"{w.step_level * 100:g}%" if w is not None else ""
    if w is not None and w.verified:
        what = ("the whole text reworded" if w.whole_text
                else f"the slim prompt with units {fmt.ids(w.rewritten)} reworded")
        line = (f"`{w.path}`: {what}, verified on its own run at {level}: {fmt.tokens(w.input_tokens_saved)} input "
                f"tokens/call fewer than the original, quality {fmt.delta_ci(w.score_delta, w.ci)}, "
                f"{fmt.usd(w.usd_per_month_saved)}/month saved")
    else:
        line = "No rewrite was verified on top of the slim prompt; nothing rewritten is proposed."
    if w is not None and w.whole_text_step is not None:
        step = w.whole_text_step
        held = "held" if step.verified else "did not hold"
        low = fmt.signed(step.ci[0]) if step.ci else "—"
        line = (line.rstrip(".") + f". The whole-text rewrite and the unit rewrites shared the 2.5% (each tested at "
                f"{level}); the whole text {held} (lower bound {low})"
                + ("" if step.saves_money else " and does not save money") + ".")
    refused = [f"{'the whole text' if r.whole_text else 'unit ' + ', '.join(map(str, r.unit_ids))} ({r.proposer}): "
               f"{_short(r.rewrite) if r.whole_text else repr(r.rewrite)} {r.why}"
               for r in section.rewrites_refused]
    return {"rows": rows, "rewritten_line": line, "refused": refused, "whole_diff": diff.rstrip("\n"),
            "whole_fence": fmt.fence(diff), "whole_diff_lines": fmt.diff_lines(diff.rstrip("\n"))}


def _short(text: str, limit: int = 80) -> str:
    one = " ".join(text.split())
    return repr(one if len(one) <= limit else one[:limit - 1] + "…")
