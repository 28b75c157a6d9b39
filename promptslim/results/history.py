"""`promptslim runs T --json`: the kept ablation runs of one template, newest first."""

from __future__ import annotations

from dataclasses import dataclass

from promptslim.jsontypes import JsonRecord


@dataclass(frozen=True)
class RunEntry(JsonRecord):
    """One kept run (reports/<name>/runs/<id>/): when, at which margin and design, what it decided and found."""

    id: str
    path: str  # the run's folder, relative to the repository
    created_at: str
    model: str
    margin: float
    design: str  # how variants were chosen: flat leave-one-out or the tree, in one stage or two
    cases: int
    removable: int
    keep: int
    inconclusive: int
    slim_removed: list[int]
    usd_per_month_found: float  # the verified slim prompt's saving (0 when none was verified)
    no_headroom: bool
    stale: bool  # the template changed since this run
    latest: bool  # the run the top-level reports/<name>/ablation.* are


@dataclass(frozen=True)
class RunsResult(JsonRecord):
    """Every kept run of a template, newest first, and the runs folders that could not be read."""

    template: str
    runs: list[RunEntry]
    unreadable: list[str]
