"""The savings engine behind `promptslim report`: what every prompt costs per month now, and what its latest
ablation found to save.

No model calls: input tokens are counted exactly over each template's eval set, output tokens come
from the latest ablation's baseline when that ablation still matches the template's text.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from promptslim.config import Config, load_config
from promptslim.cost.caching import Prefix, shared_prefix
from promptslim.cost.figure import Cost, cost_of, layout_hint
from promptslim.cost.prices import Price, price_for
from promptslim.engine.setup import DEFAULT_MODEL
from promptslim.errors import InputError
from promptslim.evalset import evalset_for, load_evalset
from promptslim.paths import PROMPTS, find_prompts, reports_dir
from promptslim.results import (AblationResult, IndexAblation, IndexEntry, IndexResult, IndexTotals, Lever, Proven,
                                TierResult, Verdict)
from promptslim.results.readback import read_report, static_output
from promptslim.template.load import Template, load_template
from promptslim.tokens import count_messages


def build_index(root: Path | None = None) -> IndexResult:
    """One entry per prompt under prompts/, and totals over them (the CLI writes reports/index.{md,html})."""
    config = load_config(root)
    root = config.root
    model = config.model or DEFAULT_MODEL
    price = price_for(model, config)
    folder = root / PROMPTS
    paths = find_prompts(folder)
    skipped: list[str] = []  # reports that could not be believed, one line each
    entries = [_entry(load_template(path, root), config, model, price, skipped) for path in paths]
    totals = IndexTotals(
        usd_per_month_now=sum(e.usd_per_month or 0.0 for e in entries),
        usd_per_month_removable=sum(e.saving for e in entries),
        templates=len(entries),
        ablated=sum(1 for e in entries if e.ablation),
        stale=sum(1 for e in entries if e.ablation and e.ablation.stale),
    )
    return IndexResult(entries=entries, totals=totals, model=model, price_source=price.source,
                       warnings=list(dict.fromkeys(skipped)) or None)


def _input_tokens(template: Template, root: Path, model: str) -> tuple[float | None, bool, str, Prefix | None]:
    """Mean exact input tokens over the eval set's cases (and their shared prefix, for the provider's prompt
    cache); without an eval set, one render with no variables."""
    path = evalset_for(template.rel, root)
    if path is not None:
        evalset = load_evalset(path, root)
        renders = [template.render(c.vars, c.input, c.where(evalset.path)) for c in evalset.cases]
        counts = [count_messages(m, model) for m in renders]
        return (sum(c.tokens for c in counts) / len(counts), counts[0].approximate,
                f"{evalset.path} ({len(counts)} cases)", shared_prefix(renders, model))
    try:
        render = template.render({}, "", None)
    except InputError as exc:
        if "undefined variable" not in exc.message:
            raise
        return None, False, "not renderable without an eval set (it needs variables)", None
    counted = count_messages(render, model)
    return float(counted.tokens), counted.approximate, "no variables (no eval set)", shared_prefix([render], model)


def _reports(template: Template, root: Path, skipped: list[str]) -> list[tuple[str, AblationResult | TierResult]]:
    """The template's latest ablation.json and tier.json, each with the report a reader opens; a file that cannot
    be believed is left out and its warning goes to `skipped` (results/readback.py)."""
    folder = reports_dir(template.name)
    out: list[tuple[str, AblationResult | TierResult]] = []
    for name, report in (("ablation.json", "ablation.md"), ("tier.json", "tier.md")):
        result, warning = read_report(root, f"{folder}/{name}")
        if warning:
            skipped.append(warning)
        if result is not None:
            out.append((f"{folder}/{report}", result))
    return out


def _ablation(result: AblationResult, report: str, sha256: str, calls_per_month: int) -> IndexAblation:
    """What the latest ablation found, and whether the template changed since."""
    slim = result.slim
    return IndexAblation(
        path=report, units=len(result.units),
        removable=[u.id for u in result.units if u.verdict == Verdict.REMOVABLE],
        slim_removed=list(slim.removed), slim_input_tokens=slim.input_tokens, slim_verdict=slim.verdict.value,
        # savings at today's traffic: the ablation priced a call; calls_per_month may have changed since
        usd_per_month_saved=slim.usd_per_call_saved * calls_per_month if slim.removed else 0.0,
        created_at=result.created_at or None, git_commit=result.git_commit, model=result.model or None,
        template_sha256=result.template_sha256 or None, baseline_output_tokens=result.baseline.output_tokens,
        stale=result.template_sha256 != sha256,
        no_headroom=result.headroom is not None and not result.headroom.enough)


def _levers(reports: list[tuple[str, AblationResult | TierResult]], sha256: str, calls_per_month: int) -> list[Lever]:
    """The best proven saving per lever, each from the latest run that tried it: a run of the current template wins
    over a newer run of an older revision; among runs of the same revision the newer (created_at) wins, and when
    it proved nothing the lever is left out, as its evidence is the latest. With no run of the current template,
    the newer one is shown stale (its saving is not counted)."""
    tried: dict[str, list[tuple[str, AblationResult | TierResult, Proven | None]]] = {}
    for report, result in reports:
        for lever, proven in result.levers().items():
            tried.setdefault(lever, []).append((report, result, proven))
    out = []
    for lever, runs in tried.items():
        current = [r for r in runs if r[1].template_sha256 == sha256]
        report, result, proven = max(current or runs, key=lambda r: str(r[1].created_at or ""))
        if proven is not None:
            saved = proven.usd_per_month_saved  # at the run's traffic, scaled to today's
            if result.calls_per_month > 0:
                saved = saved / result.calls_per_month * calls_per_month
            out.append(Lever(lever, float(saved), proven.detail, report, result.template_sha256 != sha256))
    return out


def _cache_note(figure: Cost | None) -> str:
    """The prompt cache as modelled for the figure, and the layout hint, for the reviewer's report."""
    if figure is None or figure.caching is None:
        return ""
    parts = [figure.caching.describe()] if figure.caching.cached_tokens else []
    hint = layout_hint(figure)
    return "; ".join(parts + ([hint] if hint else []))


def _entry(template: Template, config: Config, model: str, price: Price, skipped: list[str]) -> IndexEntry:
    prompt = config.prompt(template.name)
    sha256 = hashlib.sha256(template.source.encode()).hexdigest()
    input_tokens, approximate, rendered_with, prefix = _input_tokens(template, config.root, model)
    reports = _reports(template, config.root, skipped)
    ablation = next((_ablation(r, report, sha256, prompt.calls_per_month)
                     for report, r in reports if isinstance(r, AblationResult)), None)
    output = static_output(config.root, template.name, template.source)
    figure = None if input_tokens is None else cost_of(price, input_tokens, output, prompt, prompt.calls_per_month,
                                                       prefix)
    return IndexEntry(
        template=template.rel, name=template.name, model=model, template_sha256=sha256,
        input_tokens=input_tokens, output_tokens=output.tokens, tokens_approximate=approximate,
        rendered_with=rendered_with, calls_per_month=prompt.calls_per_month,
        usd_per_call=None if figure is None else figure.usd_per_call,
        usd_per_month=None if figure is None else figure.usd_per_month,
        ablation=ablation, levers=_levers(reports, sha256, prompt.calls_per_month) or None,
        output_basis=output.basis, cache_note=_cache_note(figure), output_note=output.note,
    )
