"""Write what the engines produced: reports/<name>/ablation.*, slim.j2, (with --write) the template, reports/check.md."""

from __future__ import annotations

import json
from pathlib import Path

from promptslim import paths
from promptslim.engine.ablation import Ablation
from promptslim.report import write_ablation_reports
from promptslim.report.tier import tier_html, tier_markdown
from promptslim.results import TierResult
from promptslim.safeio import atomic_write, safe_dir
from promptslim.template.load import template_name

CHECK_REPORT = "reports/check.md"


def write_ablation(result: Ablation, apply_in_place: bool = False) -> dict[str, Path]:
    """Four report files, slim.j2 and any prompt a lever proposes; paths relative to the repo root for display."""
    root, template = result.root, result.template
    folder = safe_dir(root / paths.reports_dir(template.name), root)  # never through a link, never outside the repo
    files = write_ablation_reports(result.data, folder, result.diff)
    files["slim"] = atomic_write(folder / paths.slim_file(template.rel), result.slim_source, root)
    for name, source in result.proposals.items():  # the further levers' verified prompts (rewritten.j2 …)
        files[name] = atomic_write(folder / paths.prompt_file(name, template.rel), source, root)
    chosen = result.to_apply() if apply_in_place else None
    if chosen is not None:
        atomic_write(root / template.rel, chosen[0], root)
    return {name: Path(path).resolve().relative_to(root.resolve()) for name, path in files.items()}


def write_tier(root: Path, result: TierResult) -> dict[str, Path]:
    """reports/<name>/tier.json, tier.md and tier.html; paths returned relative to the repo root for display."""
    folder = safe_dir(root / paths.reports_dir(template_name(result.template)), root)
    files = {"json": atomic_write(folder / "tier.json", json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n",
                                  root),
             "md": atomic_write(folder / "tier.md", tier_markdown(result), root),
             "html": atomic_write(folder / "tier.html", tier_html(result), root)}
    return {name: Path(path).resolve().relative_to(root.resolve()) for name, path in files.items()}


def write_check(root: Path, markdown: str) -> Path:
    """reports/check.md: the PR comment as rendered."""
    return atomic_write(root / CHECK_REPORT, markdown + "\n", root)
