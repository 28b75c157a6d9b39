"""Reviewer index: what each prompt costs per month and what ablation found to save."""
from __future__ import annotations

import posixpath
from pathlib import Path

from promptslim.paths import REPORTS
from promptslim.results import IndexEntry, IndexResult, IndexTotals
from promptslim.safeio import atomic_write

from . import fmt
from .chart import index_chart_svg

STALE = "stale — template changed since"
COST_NOTE = ("$/month: input tokens are the mean over each template's eval set; output tokens are estimated from its "
             "latest ablation of the same text (the answers it measured), the figure eval and ablate show")


def write_index(entries: list[IndexEntry], totals: IndexTotals, outdir: Path) -> dict[str, Path]:
    """Write index.md and index.html into outdir (created); return {"md": path, "html": path}."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {"md": outdir / "index.md", "html": outdir / "index.html"}
    atomic_write(paths["md"], render_index_markdown(entries, totals))
    atomic_write(paths["html"], render_index_html(entries, totals))
    return paths


def write_index_result(result: IndexResult, root: Path) -> dict[str, Path]:
    """reports/index.{md,html} for a savings result; paths relative to the repo root, for display."""
    files = write_index(result.entries, result.totals, root / REPORTS)
    return {name: Path(path).resolve().relative_to(root.resolve()) for name, path in files.items()}


def render_index_markdown(entries: list[IndexEntry], totals: IndexTotals) -> str:
    return fmt.environment().get_template("index.md.j2").render(**_view(entries, totals))


def render_index_html(entries: list[IndexEntry], totals: IndexTotals) -> str:
    view = _view(entries, totals)
    view["chart_svg"] = index_chart_svg(entries) if entries else ""
    return fmt.environment().get_template("index.html.j2").render(**view)


def total_line(totals: IndexTotals) -> str:
    now = totals.usd_per_month_now or 0.0
    found = totals.usd_per_month_removable or 0.0
    return f"${now:,.2f}/month now, ${found:,.2f}/month found removable"


def _view(entries: list[IndexEntry], totals: IndexTotals) -> dict:
    # Most expensive prompt first: that is where a reviewer's attention pays most.
    ordered = sorted(entries, key=lambda e: (-(e.usd_per_month or 0.0), e.template))
    rows = [_row(e) for e in ordered]
    stale = totals.stale
    counts = [
        fmt.plural(totals.templates, "template"),
        f"{totals.ablated} ablated",
    ]
    if stale:
        counts.append(f"{stale} stale (template changed since its ablation; savings not counted)")
    return {
        "total_line": total_line(totals),
        "counts": ", ".join(counts),
        "stale": stale,
        "rows": rows,
        "any_approximate": any(e.tokens_approximate for e in entries),
        "levers": _lever_rows(ordered),
        "cost_note": COST_NOTE,
        "any_input_only": any(e.output_basis == "not included" for e in entries),
        "cache_notes": [(e.template, e.cache_note) for e in ordered if e.cache_note],
    }


LEVERS = (("remove", "remove units"), ("rewrite", "say it shorter"), ("model", "cheaper model"))


def _lever_rows(entries: list[IndexEntry]) -> list[dict]:
    """Per template with any proven lever: each lever's $/month saving (stale ones marked, not counted)."""
    rows = []
    for e in entries:
        if not e.levers:
            continue
        cells = {}
        for key, _ in LEVERS:
            found = [lv for lv in e.levers if lv.lever == key]
            if not found:
                cells[key] = "—"
                continue
            lv = found[0]
            cells[key] = (f"⚠️ stale ({lv.detail})" if lv.stale
                          else f"{fmt.usd(lv.usd_per_month_saved)} ({lv.detail})")
        rows.append({"template": e.template, **cells})
    return rows


def _row(e: IndexEntry) -> dict:
    ab = e.ablation
    tokens = fmt.tokens(e.input_tokens) + (" ≈" if e.tokens_approximate else "")
    calls = e.calls_per_month
    row = {
        "template": e.template,
        "model": e.model,
        "tokens": tokens,
        "calls": f"{calls:,}" if calls else "—",
        "usd_month": (fmt.usd(e.usd_per_month) + (" †" if e.output_basis == "not included" else ""))
        if e.usd_per_month is not None else "n/a",
        "removable": "—", "saves": "—", "run": "—", "link_md": "", "link_html": "",
        "status": "not ablated", "status_class": "muted", "stale": False,
    }
    if not ab:
        return row
    removable = list(ab.removable)
    # "1 of 3: 4" read as a ratio; name what the trailing numbers are
    row["removable"] = f"{len(removable)} of {ab.units}" + (
        f" ({'unit' if len(removable) == 1 else 'units'} {fmt.ids(removable)})" if removable else "")
    run = f"{fmt.day(ab.created_at)}, {fmt.short_commit(ab.git_commit)}"
    if ab.model and ab.model != e.model:
        run += f", on {ab.model}"
    row["run"] = run
    row["link_md"] = _relative(ab.path)
    row["link_html"] = _relative(ab.path, ".html")
    if ab.stale:
        row.update(saves="stale", status=STALE, status_class="stale", stale=True)
    else:
        row.update(saves=fmt.usd(e.saving), status="current", status_class="")
    if ab.no_headroom:  # the verdicts say what the model ignores, not what the task needs
        row.update(status=f"{row['status']}; ⚠️ no headroom: its baseline barely beat a constant answer",
                   status_class="stale")
    return row


def _relative(path: str, suffix: str | None = None) -> str:
    """Link from reports/index.* to a report path given relative to the repo root."""
    if not path:
        return ""
    p = path.replace("\\", "/")
    # DESIGN fixes the layout: the index sits in reports/, ablations in reports/<name>/.
    if p.startswith("reports/"):
        p = p[len("reports/"):]
    if suffix:
        p = posixpath.splitext(p)[0] + suffix
    return p
