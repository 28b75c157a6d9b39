"""tier.md: the model table (delta with its interval, verdict, tokens, $ at each model's prices) and the pick."""

from __future__ import annotations

from promptslim.report.facts import fact_lines
from promptslim.report.fmt import delta_ci, md_cell, number, pct, score_ci, usd, usd_compact
from promptslim.results import PriceFacts, Prices
from promptslim.results.tier import ModelVerdict, TierResult

APPROX = "≈"


def price_text(p: PriceFacts) -> str:
    """Where one model's prices came from: genai-prices' data version and date, or the config table."""
    if p.kind == "genai-prices":
        return f"genai-prices {p.data_version or '?'} ({p.source.split(': ', 1)[-1]}, in effect {p.date or '?'})"
    if p.kind == "local":
        return "runs locally, no price"
    return f"config ({p.source}), not a list price"


def headline(r: TierResult) -> str:
    """One line: the recommendation and its saving, or why there is none."""
    if r.recommendation:
        best = next(m for m in r.models if m.model == r.recommendation)
        return (f"{r.template}: {r.recommendation} is non-inferior to {r.model} at margin {r.margin:g} "
                f"(delta {delta_ci(best.score_delta, best.ci)}) and saves {usd_compact(r.usd_per_month_saved)}/month "
                f"at {r.calls_per_month:,} calls ({usd(best.usd_per_call, None)}/call vs "
                f"{usd(r.baseline.usd_per_call, None)})")
    shown = ", ".join(f"{m.model} {m.verdict}" for m in r.models)
    return f"{r.template}: no cheaper model shown non-inferior to {r.model} at margin {r.margin:g} ({shown})"


def rows(r: TierResult) -> list[list[str]]:
    """The model table, the configured model first: what the CLI and the markdown both show."""
    b = r.baseline
    approx = APPROX if b.facts.tokens_source == "estimated" else ""
    out = [[f"{r.model} (baseline)", score_ci(b.score, b.ci), "—", "—", f"{number(b.input_tokens, 1)}{approx}",
            number(b.output_tokens, 1), usd(b.usd_per_call, None), usd(b.usd_per_month),
            usd(b.usd_per_usable_output, None), "—"]]
    for m in r.models:
        approx = APPROX if m.tokens_approximate else ""
        pick = " ← recommended" if m.model == r.recommendation else ""
        out.append([m.model, number(m.score), delta_ci(m.score_delta, m.ci), f"{m.verdict}{pick}",
                    f"{number(m.input_tokens, 1)}{approx}", number(m.output_tokens, 1), usd(m.usd_per_call, None),
                    usd(m.usd_per_month), usd(m.usd_per_usable_output, None),
                    usd(m.usd_per_month_saved, sign=True)])
    return out


HEADER = ["model", "score", "Δ score [95% CI]", "verdict", "in tok", "out tok", "$/call", "$/month",
          "$/usable output", "$/month saved"]


def tier_markdown(r: TierResult) -> str:
    """The report a reviewer reads: same prompt, other models, which one to switch to and what it saves."""
    lines = [f"# Cheaper model: {r.template}", "", f"**{headline(r)}**", "",
             f"Baseline {r.model}; judge {r.judge_model}; eval set {r.evalset} ({r.cases} cases × {r.repeats}); "
             f"margin {r.margin:g}; {r.calls_per_month:,} calls/month; cached-input share "
             f"{pct(r.cached_input_fraction)} (billed at each model's cached-input price).", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows(r)]
    lines += ["", "Tokens: each model's own tokenizer where it is public, else the count its endpoint reported; "
              f"{APPROX} marks an estimate.", "", "## Prices", "",
              f"- {r.model}: {price_text(r.baseline_price)}"]
    lines += [f"- {m.model}: {price_text(m.price)}" for m in r.models]
    worse = [m.model for m in r.models if m.verdict == ModelVerdict.WORSE]
    if worse:
        lines += ["", f"Measurably worse than {r.model}: {', '.join(worse)} — not a safe switch on this eval set."]
    lines += ["", "## Method", "", r.method, "", "## Run", ""]
    prices = Prices(r.baseline_price, None)
    lines += [f"- {line}" for line in fact_lines(r.run, prices, None)]
    lines += [f"- warning: {w}" for w in r.warnings]
    return "\n".join(lines) + "\n"
