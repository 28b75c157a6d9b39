"""The tree design's report partial: the prompt's tree with tokens, $ and the verdict per node, and why an untested
node was not tested (templates/_tree.md.j2 and _tree.html.j2)."""

from __future__ import annotations

from promptslim.report import fmt
from promptslim.report.sections import partial
from promptslim.results import AblationResult
from promptslim.results.tree import TreeSection


def _depth(section: TreeSection) -> dict[str, int]:
    parents = {n.id: n.parent for n in section.nodes}
    depth: dict[str, int] = {}
    for node in section.nodes:  # parents come first
        depth[node.id] = 1 if node.parent is None else depth.get(parents[node.id] or "", 0) + 1
    return depth


def headline(result: AblationResult) -> str:
    section = result.section(TreeSection)
    assert section is not None
    tops = [n for n in section.nodes if n.parent is None]
    gone = [n for n in tops if n.verdict is not None and n.verdict.value == "removable"]
    tested = sum(1 for n in section.nodes if n.tested)
    return (f"tree design: {len(gone)} of {len(tops)} sections removable whole; {tested} of {len(section.nodes)} "
            f"nodes tested (sections first, then the ones not removable)")


@partial(TreeSection, "tree", headline)
def view(section: TreeSection, result: AblationResult) -> dict:
    """One row per node, indented by depth: tokens, at most $/month, the verdict with its score Δ, or why untested."""
    depth = _depth(section)
    rows = []
    for n in section.nodes:
        verdict = n.verdict.value if n.verdict is not None else ""
        rows.append({
            "node": " " * 2 * (depth[n.id] - 1) + n.id, "indent": depth[n.id] - 1, "kind": n.kind,
            "title": fmt.short_text(n.title), "tokens": fmt.tokens(n.tokens),
            "max": fmt.usd(n.usd_per_month_max) if result.calls_per_month else "—",
            "verdict": f"{fmt.VERDICT_MARK.get(verdict, '')} {verdict}".strip() + (" (in slim)" if n.in_slim else "")
            if n.tested else ("in slim" if n.in_slim else "not tested"),
            "score": fmt.delta_ci(n.score_delta, n.ci) if n.tested else "",
            "why": n.why or "",
        })
    t = section.tree
    plan = (f"{t.sections_tested} sections tested first at {t.section_level:.4f} each (a section that changes no "
            f"answer is removable from {t.cases_unchanged_section} cases)")
    plan += (f"; {t.nodes_tested - t.sections_tested} nodes below them at {t.below_level:.5f} each (from "
             f"{t.cases_unchanged_below} cases)" if t.below_level else "; no descent at this eval set's size")
    if t.traffic:
        plan += f"; {t.not_worth_testing} nodes not worth testing within {t.payback_months:g} months"
    else:
        plan += "; no calls_per_month, so no node was ruled out as not worth testing"
    if t.capped_by_budget:
        plan += f"; {t.capped_by_budget} nodes left untested by --max-cost"
    return {"rows": rows, "plan": plan}
