"""tier.md: the model table (delta with its interval, verdict, tokens, $ at each model's prices) and the pick."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from promptslim.report.facts import fact_lines
from promptslim.report.fmt import delta_ci, md_cell, number, pct, score_ci, usd, usd_compact
from promptslim.results import PriceFacts, Prices
from promptslim.results.ablation import Baseline
from promptslim.results.tier import ModelFinding, ModelVerdict, TierResult

if TYPE_CHECKING:
    from promptslim.results import AblationResult

APPROX = "≈"


def price_text(p: PriceFacts) -> str:
    """Where one model's prices came from: genai-prices' data version and date, or the config table."""
    if p.kind == "genai-prices":
        return f"genai-prices {p.data_version or '?'} ({p.source.split(': ', 1)[-1]}, in effect {p.date or '?'})"
    if p.kind == "local":
        return "runs locally, no price"
    return f"config ({p.source}), not a list price"


@dataclass(frozen=True)
class ModelTable:
    """What the model table shows, from tier.json or from ablation.json's `models` (one table, two reports)."""

    template: str
    model: str  # the baseline: the configured model
    margin: float
    calls_per_month: int
    baseline: Baseline
    baseline_price: PriceFacts
    models: list[ModelFinding]
    recommendation: str | None
    usd_per_month_saved: float

    @classmethod
    def of(cls, r: "TierResult | AblationResult") -> "ModelTable":
        if isinstance(r, TierResult):
            return cls(r.template, r.model, r.margin, r.calls_per_month, r.baseline, r.baseline_price, r.models,
                       r.recommendation, r.usd_per_month_saved)
        pick = r.model_recommendation
        return cls(r.template, r.model, r.margin, r.calls_per_month, r.baseline, r.prices.price_model,
                   list(r.models or []), pick.model if pick else None, pick.usd_per_month_saved if pick else 0.0)


def headline(r: "TierResult | AblationResult | ModelTable") -> str:
    """One line: the recommendation and its saving, or why there is none."""
    t = r if isinstance(r, ModelTable) else ModelTable.of(r)
    if t.recommendation:
        best = next(m for m in t.models if m.model == t.recommendation)
        return (f"{t.template}: {t.recommendation} is non-inferior to {t.model} at margin {t.margin:g} "
                f"(delta {delta_ci(best.score_delta, best.ci)}) and saves {usd_compact(t.usd_per_month_saved)}/month "
                f"at {t.calls_per_month:,} calls ({usd(best.usd_per_call, None)}/call vs "
                f"{usd(t.baseline.usd_per_call, None)})")
    shown = ", ".join(f"{m.model} {m.verdict}" for m in t.models)
    return f"{t.template}: no cheaper model shown non-inferior to {t.model} at margin {t.margin:g} ({shown})"


def rows(r: "TierResult | AblationResult | ModelTable") -> list[list[str]]:
    """The model table, the configured model first: what the CLI, the markdown and the html all show."""
    t = r if isinstance(r, ModelTable) else ModelTable.of(r)
    b = t.baseline
    approx = APPROX if b.facts.tokens_source == "estimated" else ""
    out = [[f"{t.model} (baseline)", score_ci(b.score, b.ci), "—", "—", f"{number(b.input_tokens, 1)}{approx}",
            number(b.output_tokens, 1), usd(b.usd_per_call, None), usd(b.usd_per_month),
            usd(b.usd_per_usable_output, None), "—"]]
    for m in t.models:
        approx = APPROX if m.tokens_approximate else ""
        pick = RECOMMENDED if m.model == t.recommendation else ""
        out.append([m.model, number(m.score), delta_ci(m.score_delta, m.ci), f"{m.verdict}{pick}",
                    f"{number(m.input_tokens, 1)}{approx}", number(m.output_tokens, 1), usd(m.usd_per_call, None),
                    usd(m.usd_per_month), usd(m.usd_per_usable_output, None),
                    usd(m.usd_per_month_saved, sign=True)])
    return out


RECOMMENDED = " ← recommended"
HEADER = ["model", "score", "Δ score [95% CI]", "verdict", "in tok", "out tok", "$/call", "$/month",
          "$/usable output", "$/month saved"]
TEXT_COLUMNS = ("model", "verdict")


def html_table(r: "TierResult | AblationResult | ModelTable") -> dict:
    """The model table for templates/_models.html.j2 (tier.html and ablation.html include the same partial)."""
    t = r if isinstance(r, ModelTable) else ModelTable.of(r)
    body = rows(t)
    verdicts = ["baseline"] + [str(m.verdict) for m in t.models]
    return {"header": [(c, c not in TEXT_COLUMNS) for c in HEADER],
            "rows": [{"cells": [(c, HEADER[i] not in TEXT_COLUMNS) for i, c in enumerate(row)], "verdict": v,
                      "recommended": row[3].endswith(RECOMMENDED)} for row, v in zip(body, verdicts)],
            "headline": headline(t), "recommended": bool(t.recommendation), "notes": section_notes(t)}


def section_notes(t: ModelTable) -> dict:
    """What goes under the table: how tokens were counted, each model's price source, the measurably worse."""
    worse = [m.model for m in t.models if m.verdict == ModelVerdict.WORSE]
    return {"tokens": "Tokens: each model's own tokenizer where it is public, else the count its endpoint reported; "
                      f"{APPROX} marks an estimate.",
            "prices": [(t.model, price_text(t.baseline_price))] + [(m.model, price_text(m.price)) for m in t.models],
            "worse": (f"Measurably worse than {t.model}: {', '.join(worse)} — not a safe switch on this eval set."
                      if worse else "")}


def markdown_section(t: ModelTable) -> list[str]:
    """The table and its notes in markdown, one copy for tier.md and ablation.md."""
    notes = section_notes(t)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows(t)]
    lines += ["", notes["tokens"], "", "Prices:", ""] + [f"- {model}: {text}" for model, text in notes["prices"]]
    return lines + (["", notes["worse"]] if notes["worse"] else [])


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
