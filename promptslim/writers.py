"""Write what the engines produced: reports/<name>/ablation.*, slim.j2, (with --write) the template, reports/check.md."""

from __future__ import annotations

from pathlib import Path

from promptslim import paths
from promptslim.ablate import Ablation
from promptslim.report import write_ablation_reports
from promptslim.safeio import atomic_write, safe_dir
from promptslim.template import Template

CHECK_REPORT = "reports/check.md"


def write_ablation(root: Path, template: Template, result: Ablation, apply_in_place: bool) -> dict[str, Path]:
    """Four report files plus slim.j2; paths returned relative to the repo root for display."""
    folder = safe_dir(root / paths.reports_dir(template.name), root)  # never through a link, never outside the repo
    files = write_ablation_reports(result.data, folder, result.diff)
    slim = atomic_write(folder / paths.slim_file(template.rel), result.slim_source, root)
    files["slim"] = slim
    if apply_in_place and result.data.slim.removed:
        atomic_write(root / template.rel, result.slim_source, root)
    return {name: Path(path).resolve().relative_to(root.resolve()) for name, path in files.items()}


def write_check(root: Path, markdown: str) -> Path:
    """reports/check.md: the PR comment as rendered."""
    return atomic_write(root / CHECK_REPORT, markdown + "\n", root)
