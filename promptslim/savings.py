"""The savings engine behind `promptslim report`: what every prompt costs per month now, and what its latest
ablation found to save.

No model calls: input tokens are counted exactly over each template's eval set, output tokens come
from the latest ablation's baseline when that ablation still matches the template's text.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from promptslim.config import Config, load_config
from promptslim.cost import Cost, cost_of, layout_hint, static_output
from promptslim.errors import InputError
from promptslim.reportfile import read_report
from promptslim.evalset import evalset_for, load_evalset
from promptslim.paths import PROMPTS, find_prompts, reports_dir
from promptslim.prefixcache import Prefix, shared_prefix
from promptslim.prices import Price, price_for
from promptslim.report.chart import saving
from promptslim.results import IndexAblation, IndexEntry, IndexResult, IndexTotals, Lever
from promptslim.runsetup import DEFAULT_MODEL
from promptslim.template import Template, load_template
from promptslim.tokens import count_messages


def build_index(root: Path | None = None) -> IndexResult:
    """One entry per prompt under prompts/, and totals over them (the CLI writes reports/index.{md,html})."""
    config = load_config(root)
    root = config.root
    model = config.model or DEFAULT_MODEL
    price = price_for(model, config)
    folder = root / PROMPTS
    paths = find_prompts(folder)
    skipped: list[str] = []
    entries = [_entry(load_template(path, root), config, model, price, skipped) for path in paths]
    totals = IndexTotals(
        usd_per_month_now=sum(e.usd_per_month or 0.0 for e in entries),
        usd_per_month_removable=sum(saving(e) for e in entries),
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


def _ablation(template: Template, data: dict | None, sha256: str, calls_per_month: int) -> IndexAblation | None:
    """What the latest ablation.json says (validated by reportfile.read_report; None when absent or skipped)."""
    if data is None:
        return None
    rel = f"{reports_dir(template.name)}/ablation.json"
    slim = data["slim"]
    units = data["units"]
    # Savings at today's traffic: the ablation priced a call; calls_per_month may have changed since.
    per_call = slim.get("usd_per_call_saved")
    saved = per_call * calls_per_month if per_call is not None else slim.get("usd_per_month_saved")
    if not slim.get("removed"):
        saved = 0.0
    return IndexAblation(
        path=rel[: -len(".json")] + ".md",
        units=len(units),
        removable=[u["id"] for u in units if u.get("verdict") == "removable"],
        slim_removed=list(slim.get("removed") or []),
        slim_input_tokens=slim.get("input_tokens"),
        slim_verdict=slim.get("verdict"),
        usd_per_month_saved=saved,
        created_at=data.get("created_at"),
        git_commit=data.get("git_commit"),
        model=data.get("model"),
        template_sha256=data.get("template_sha256"),
        baseline_output_tokens=(data.get("baseline") or {}).get("output_tokens"),
        stale=data.get("template_sha256") != sha256,
    )


def _read(root: Path, rel: str, skipped: list[str]) -> dict | None:
    """A report's validated JSON, or None when absent or not believable (its warning goes to `skipped`)."""
    found = read_report(root, rel)
    if found.warning:
        skipped.append(found.warning)
    return found.data


def _scaled(saved: float | None, run_calls: object, calls_per_month: int) -> float:
    """A run's $/month saving at today's traffic (the run priced it at its own calls_per_month)."""
    if not isinstance(saved, (int, float)):
        return 0.0
    if isinstance(run_calls, int) and run_calls > 0:
        return saved / run_calls * calls_per_month
    return float(saved)


def _levers(template: Template, root: Path, sha256: str, calls_per_month: int, ablation: dict | None,
            tier: dict | None) -> list[Lever]:
    """The best proven saving per lever: the verified slim prompt, the verified rewritten prompt, the recommended
    cheaper model; a lever with nothing proven is left out."""
    folder = root / reports_dir(template.name)
    out: list[Lever] = []
    if ablation is not None:
        stale = ablation.get("template_sha256") != sha256
        cpm = ablation.get("calls_per_month")
        slim = ablation.get("slim") or {}
        report = (folder / "ablation.md").relative_to(root).as_posix()
        if slim.get("removed") and slim.get("verdict") == "removable":
            out.append(Lever("remove", _scaled(slim.get("usd_per_month_saved"), cpm, calls_per_month),
                             f"remove units {', '.join(map(str, slim['removed']))}", report, stale))
        rewritten = ablation.get("rewritten") or {}
        if rewritten.get("verified"):
            out.append(Lever("rewrite", _scaled(rewritten.get("usd_per_month_saved"), cpm, calls_per_month),
                             "whole text reworded" if rewritten.get("whole_text") else
                             f"slim prompt with units {', '.join(map(str, rewritten.get('rewritten') or []))} reworded",
                             report, stale))
    model = _model_lever(folder, root, sha256, calls_per_month, ablation, tier)
    if model is not None:
        out.append(model)
    return out


def _model_lever(folder: Path, root: Path, sha256: str, calls_per_month: int, ablation: dict | None,
                 tier: dict | None) -> Lever | None:
    """The cheaper-model lever from the newer of tier.json and ablation.json's `models` (ablate --also-model).

    A run of the current template wins over a newer run of an older revision; among runs of the same revision the
    newer (created_at) wins, and when it recommends nothing the lever is left out, as its evidence is the latest.
    With no run of the current template, the newer one is shown stale (its saving is not counted).
    """
    runs = []
    if tier is not None:
        runs.append((tier, tier.get("recommendation"), tier.get("usd_per_month_saved"), "tier.md"))
    if ablation is not None and ablation.get("models") is not None:
        pick = ablation.get("model_recommendation")
        pick = pick if isinstance(pick, dict) else {}
        runs.append((ablation, pick.get("model"), pick.get("usd_per_month_saved"), "ablation.md"))
    if not runs:
        return None
    current = [r for r in runs if r[0].get("template_sha256") == sha256]
    data, model, saved, report = max(current or runs, key=lambda r: str(r[0].get("created_at") or ""))
    if not model:
        return None
    return Lever("model", _scaled(saved, data.get("calls_per_month"), calls_per_month),
                 f"{model} instead of {data.get('model')}", (folder / report).relative_to(root).as_posix(),
                 data.get("template_sha256") != sha256)


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
    folder = reports_dir(template.name)
    report = _read(config.root, f"{folder}/ablation.json", skipped)
    tier = _read(config.root, f"{folder}/tier.json", skipped)
    ablation = _ablation(template, report, sha256, prompt.calls_per_month)
    output = static_output(config.root, template.name, template.source)
    figure = None if input_tokens is None else cost_of(price, input_tokens, output, prompt, prompt.calls_per_month,
                                                       prefix)
    return IndexEntry(
        template=template.rel, name=template.name, model=model, template_sha256=sha256,
        input_tokens=input_tokens, output_tokens=output.tokens, tokens_approximate=approximate,
        rendered_with=rendered_with, calls_per_month=prompt.calls_per_month,
        usd_per_call=None if figure is None else figure.usd_per_call,
        usd_per_month=None if figure is None else figure.usd_per_month,
        ablation=ablation,
        levers=_levers(template, config.root, sha256, prompt.calls_per_month, report, tier) or None,
        output_basis=output.basis, cache_note=_cache_note(figure), output_note=output.note,
    )
