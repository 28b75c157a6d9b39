"""Write what an ablation produced: reports/<name>/ablation.*, slim.j2, and (with --write) the template itself."""

from __future__ import annotations

from pathlib import Path

from promptslim.ablate import Ablation
from promptslim.report import write_ablation_reports
from promptslim.paths import slim_file
from promptslim.template import Template


def reports_dir(root: Path, template: Template) -> Path:
    return root / "reports" / template.name


def write_ablation(root: Path, template: Template, result: Ablation, apply_in_place: bool) -> dict[str, Path]:
    """Four report files plus slim.j2; paths returned relative to the repo root for display."""
    folder = reports_dir(root, template)
    files = write_ablation_reports(result.data, folder, result.diff)
    slim = folder / slim_file(template.rel)
    slim.write_text(result.slim_source, encoding="utf-8")
    files["slim"] = slim
    if apply_in_place and result.data["slim"]["removed"]:
        (root / template.rel).write_text(result.slim_source, encoding="utf-8")
    return {name: Path(path).resolve().relative_to(root.resolve()) for name, path in files.items()}
