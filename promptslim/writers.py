"""Write what the engines produced: reports/<name>/ablation.*, slim.j2, (with --write) the template, reports/check.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from promptslim import paths
from promptslim.engine.ablation import Ablation
from promptslim.history import run_id
from promptslim.report import write_ablation_reports
from promptslim.report.junit import junit_xml
from promptslim.report.tier import tier_html, tier_markdown
from promptslim.results import CheckResult, TierResult
from promptslim.safeio import atomic_write, safe_dir
from promptslim.template.load import template_name

if TYPE_CHECKING:
    from promptslim.importers import PlannedFile

CHECK_REPORT = "reports/check.md"


def write_ablation(result: Ablation, apply_in_place: bool = False) -> dict[str, Path]:
    """Four report files, slim.j2 and any prompt a lever proposes, into the run's own folder
    (reports/<name>/runs/<run id>/, kept) and again at reports/<name>/ (the latest run); paths relative to the repo
    root for display, the run's folder as "run"."""
    root, template = result.root, result.template
    folder = safe_dir(root / paths.reports_dir(template.name), root)  # never through a link, never outside the repo
    runs = safe_dir(root / paths.runs_dir(template.name), root)
    run = safe_dir(runs / run_id(result.data.created_at, result.data.margin, runs), root)
    _write_run(result, run, root)
    files = _write_run(result, folder, root)
    files["run"] = run
    chosen = result.to_apply() if apply_in_place else None
    if chosen is not None:
        atomic_write(root / template.rel, chosen[0], root)
    return {name: Path(path).resolve().relative_to(root.resolve()) for name, path in files.items()}


def _write_run(result: Ablation, folder: Path, root: Path) -> dict[str, Path]:
    files = write_ablation_reports(result.data, folder, result.diff)
    files["slim"] = atomic_write(folder / paths.slim_file(result.template.rel), result.slim_source, root)
    for name, source in result.proposals.items():  # the further levers' verified prompts (rewritten.j2 …)
        files[name] = atomic_write(folder / paths.prompt_file(name, result.template.rel), source, root)
    return files


def write_tier(root: Path, result: TierResult) -> dict[str, Path]:
    """reports/<name>/tier.json, tier.md and tier.html; paths returned relative to the repo root for display."""
    folder = safe_dir(root / paths.reports_dir(template_name(result.template)), root)
    files = {"json": atomic_write(folder / "tier.json", json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n",
                                  root),
             "md": atomic_write(folder / "tier.md", tier_markdown(result), root),
             "html": atomic_write(folder / "tier.html", tier_html(result), root)}
    return {name: Path(path).resolve().relative_to(root.resolve()) for name, path in files.items()}


def write_check(root: Path, markdown: str, md: str | None = None) -> Path | None:
    """reports/check.md: the PR comment as rendered; `md` writes it elsewhere instead (CI: a fresh path outside the
    checkout), "-" nowhere (a pre-commit hook: stdout only)."""
    if md is None:
        return atomic_write(root / CHECK_REPORT, markdown + "\n", root)
    return None if md == "-" else atomic_write(Path(md), markdown + "\n")


def write_junit(path: Path, result: CheckResult) -> Path:
    """JUnit XML of a check: one test case per template, a failure on a regression or a budget breach."""
    return atomic_write(path, junit_xml(result))


def write_planned(root: Path, files: "list[PlannedFile]", force: bool) -> list[str]:
    """Write an import's files under the repository root; an existing file is refused unless force (exit 2)."""
    from promptslim.errors import InputError

    existing = [f.path for f in files if (root / f.path).exists() or (root / f.path).is_symlink()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise InputError(f"{existing[0]}: exists{more} — nothing written; pass --force to overwrite")
    for f in files:
        atomic_write(root / f.path, f.text, root)
    return [f.path for f in files]


def write_settings(root: Path, settings: dict, source: str) -> bool:
    """promptslim.toml from an imported suite's model settings, only when the repository has no config yet."""
    from promptslim.config import CONFIG_FILE, config_from_texts
    from promptslim.importers.pfprovider import settings_toml

    pyproject = root / "pyproject.toml"
    if not settings or (root / CONFIG_FILE).exists() or (pyproject.is_file() and "[tool.promptslim" in
                                                         pyproject.read_text(encoding="utf-8", errors="replace")):
        return False
    text = settings_toml(settings, source)
    config_from_texts(root, text, None)  # what we write must load
    atomic_write(root / CONFIG_FILE, text, root)
    return True
