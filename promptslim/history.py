"""Run history: every ablation keeps its reports under reports/<name>/runs/<run id>/, and `promptslim runs T` lists
them (issue 24: a rerun at another margin replaced the previous run's reports, so two runs could not be compared).

A run id is the run's UTC time and margin, `20261207-144512-m0.1`: it sorts by time, and says at a glance what
differs between two runs of one template. The top-level reports/<name>/ablation.* stay the latest run's copy, so
everything that reads them (report, count, check --no-eval, a CI step) keeps working.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path

from promptslim import paths
from promptslim.config import load_config
from promptslim.engine.setup import resolve_template
from promptslim.results import AblationResult, Verdict
from promptslim.results.history import RunEntry, RunsResult
from promptslim.results.tree import TreeSection
from promptslim.results.readback import read_report
from promptslim.template.load import load_template

RUN_ID = re.compile(r"^\d{8}-\d{6}-m[0-9.e-]+(-\d+)?$")


def run_id(created_at: str, margin: float, taken: Path) -> str:
    """The id of a run made at `created_at` (ISO, UTC) at `margin`, not yet a folder under `taken`."""
    stamp = datetime.fromisoformat(created_at).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-m{margin:g}"
    candidate, n = base, 1
    while (taken / candidate).exists():  # two runs in one second
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def design(result: AblationResult) -> str:
    """How the run chose its variants (DESIGN.md `design`): flat leave-one-out or the tree (issue 23), in one stage
    or two."""
    tree = result.section(TreeSection)
    stages = [n.stage for n in tree.nodes] if tree is not None else [u.stage for u in result.units]
    return f"{'tree' if tree is not None else 'flat'}, {'two-stage' if 2 in stages else 'one stage'}"


def entry(run: str, rel: str, result: AblationResult, sha256: str, latest: bool) -> RunEntry:
    """One kept run as `runs` lists it."""
    verdicts = [u.verdict for u in result.units]
    slim = result.slim
    verified = bool(slim.removed) and slim.verdict == Verdict.REMOVABLE
    return RunEntry(id=run, path=rel, created_at=result.created_at, model=result.model, margin=result.margin,
                    design=design(result), cases=result.cases, removable=verdicts.count(Verdict.REMOVABLE),
                    keep=verdicts.count(Verdict.KEEP), inconclusive=verdicts.count(Verdict.INCONCLUSIVE),
                    slim_removed=list(slim.removed) if verified else [],
                    usd_per_month_found=slim.usd_per_month_saved if verified else 0.0,
                    no_headroom=result.headroom is not None and not result.headroom.enough,
                    stale=result.template_sha256 != sha256, latest=latest)


def list_runs(template_path: str, root: Path | None = None) -> RunsResult:
    """Every kept run of a template, newest first; a folder whose ablation.json cannot be read is named, not fatal."""
    config = load_config(root)
    template = load_template(resolve_template(template_path, config.root), config.root)
    sha = hashlib.sha256(template.source.encode()).hexdigest()
    folder = config.root / paths.runs_dir(template.name)
    latest, _ = read_report(config.root, f"{paths.reports_dir(template.name)}/ablation.json")
    runs: list[RunEntry] = []
    unreadable: list[str] = []
    names = sorted((p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and RUN_ID.match(p.name)),
                   reverse=True) \
        if folder.is_dir() and not folder.is_symlink() else []
    for name in names:
        rel = f"{paths.runs_dir(template.name)}/{name}"
        # read as every report is (results/readback.py): no symlink, size-capped, believable, or named and skipped
        result, _ = read_report(config.root, f"{rel}/ablation.json")
        if isinstance(result, AblationResult):
            runs.append(entry(name, rel, result, sha, result == latest))
        else:
            unreadable.append(rel)
    return RunsResult(template=template.rel, runs=runs, unreadable=unreadable)
