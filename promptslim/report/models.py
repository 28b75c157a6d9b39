"""The cheaper-model lever's report partial: the model table (delta with its interval, verdict, tokens, $ at each
model's prices) and the pick — one table for tier.md/.html, ablation.md/.html and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from promptslim.report.fmt import delta_ci, md_cell, number, score_ci, usd, usd_compact
from promptslim.report.sections import partial
from promptslim.results import AblationResult, PriceFacts, TierResult
from promptslim.results.models import ModelFinding, ModelsSection
from promptslim.results.variants import Baseline, ModelVerdict

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
        section = r.section(ModelsSection)
        pick = section.model_recommendation if section else None
        return cls(r.template, r.model, r.margin, r.calls_per_month, r.baseline, r.prices.price_model,
                   list(section.models if section else []), pick.model if pick else None,
                   pick.usd_per_month_saved if pick else 0.0)


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


@partial(ModelsSection, "models", headline=headline)
def view(section: ModelsSection, result: AblationResult) -> dict:
    """ablation.md's and ablation.html's "Same prompt, cheaper model" (ablate --also-model)."""
    table = ModelTable.of(result)
    return {"md": "\n".join([f"**{html_table(table)['headline']}**", ""] + markdown_section(table)),
            "html": html_table(table)}
