"""tier.md and tier.html: the model table (report/models.py) with the run's context, method and facts."""

from __future__ import annotations

from promptslim.report.facts import fact_lines
from promptslim.report.fmt import pct
from promptslim.report.models import ModelTable, headline, html_table, markdown_section
from promptslim.results import Prices
from promptslim.results.tier import TierResult

__all__ = ["context", "headline", "run_lines", "tier_html", "tier_markdown"]


def tier_markdown(r: TierResult) -> str:
    """The report a reviewer reads: same prompt, other models, which one to switch to and what it saves."""
    lines = [f"# Cheaper model: {r.template}", "", f"**{headline(r)}**", "", context(r), ""]
    lines += markdown_section(ModelTable.of(r))
    lines += ["", "## Method", "", r.method, "", "## Run", ""]
    lines += [f"- {line}" for line in run_lines(r)]
    return "\n".join(lines) + "\n"


def tier_html(r: TierResult) -> str:
    """tier.html: the look of ablation.html (one stylesheet) around the same model table partial."""
    from promptslim.report.fmt import environment, short_commit

    provenance = (f"eval set {r.evalset} · commit {short_commit(r.git_commit)} · template sha256 "
                  f"{r.template_sha256[:12]} · created {r.created_at}")
    return environment().get_template("tier.html.j2").render(
        template=r.template, context=context(r), warnings=list(r.warnings), models=html_table(r), method=r.method,
        facts=fact_lines(r.run, Prices(r.baseline_price, None), None), provenance=provenance)


def context(r: TierResult) -> str:
    return (f"Baseline {r.model}; judge {r.judge_model}; eval set {r.evalset} ({r.cases} cases × {r.repeats}); "
            f"margin {r.margin:g}; {r.calls_per_month:,} calls/month; cached-input share "
            f"{pct(r.cached_input_fraction)} (billed at each model's cached-input price).")


def run_lines(r: TierResult) -> list[str]:
    return fact_lines(r.run, Prices(r.baseline_price, None), None) + [f"warning: {w}" for w in r.warnings]
