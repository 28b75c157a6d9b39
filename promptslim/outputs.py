"""Write what an ablation produced: reports/<name>/ablation.*, slim.j2, and (with --write) the template itself."""

from __future__ import annotations

from pathlib import Path

from promptslim.ablate import Ablation
from promptslim.report import write_ablation_reports
from promptslim.paths import slim_file
from promptslim.safeio import atomic_write, safe_dir
from promptslim.template import Template


def reports_dir(root: Path, template: Template) -> Path:
    return root / "reports" / template.name


def write_ablation(root: Path, template: Template, result: Ablation, apply_in_place: bool) -> dict[str, Path]:
    """Four report files plus slim.j2; paths returned relative to the repo root for display."""
    folder = safe_dir(reports_dir(root, template), root)  # never through a link, never outside the repo
    files = write_ablation_reports(result.data, folder, result.diff)
    slim = atomic_write(folder / slim_file(template.rel), result.slim_source, root)
    files["slim"] = slim
    if apply_in_place and result.data["slim"]["removed"]:
        atomic_write(root / template.rel, result.slim_source, root)
    return {name: Path(path).resolve().relative_to(root.resolve()) for name, path in files.items()}
