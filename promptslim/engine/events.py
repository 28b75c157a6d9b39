"""What a run tells its caller while it runs, as events: notices, the plan, progress, spend, and the one question it
asks (may a plan over budget start?). Engines emit them and never print; the CLI subscribes and renders them; a
notebook may pass its own callback, or none (silent, and a plan over budget does not start).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Union

from promptslim.cost.plan import Plan


@dataclass(frozen=True)
class Notice:
    """A line the caller should see before the run: a warning, a substituted model, the embedded model's caveat."""

    text: str


@dataclass(frozen=True)
class Detail:
    """A line about how the run will decide (the margin, the power, the rewrites to test): for a reader, not a
    script (the CLI leaves it out of --json runs)."""

    text: str


@dataclass(frozen=True)
class PlanMade:
    """The plan, before any call: what the variants will cost, for the models that will answer and judge."""

    plan: Plan
    model: str
    judge_model: str
    templates: int | None = None  # check: how many changed templates the plan covers (None: one template's run)
    reviewer_calls: int = 0  # check: target calls on the PR's own new cases (for the reviewer, not the gate)


@dataclass(frozen=True)
class OverBudget:
    """The plan costs more than the budget: the run starts only when the callback returns True (--yes)."""

    plan: Plan


@dataclass(frozen=True)
class PhaseStarted:
    """A phase of the run (baseline, leave-one-out, slim …) with the number of cases it will grade."""

    name: str
    total: int


@dataclass(frozen=True)
class CaseDone:
    """One case of the current phase graded (every sample answered and judged)."""

    phase: str


@dataclass(frozen=True)
class Spent:
    """The run's spend so far, after every call: API calls, answers from the cache, USD."""

    calls: int
    cache_hits: int
    usd: float


@dataclass(frozen=True)
class BatchProgress:
    """With --batch: one batch's status (promptslim/llm/batch.py BatchStatus)."""

    status: Any


Event = Union[Notice, Detail, PlanMade, OverBudget, PhaseStarted, CaseDone, Spent, BatchProgress]
Events = Callable[[Event], Any]


def silent(event: Event) -> None:
    """No subscriber: nothing is shown, and a plan over budget is refused."""
    return None


def phases(events: Events) -> Callable[[str, int], Callable[[], None]]:
    """The engine's progress hook: (phase name, cases) -> a tick per case graded, as events."""

    def phase(name: str, total: int) -> Callable[[], None]:
        events(PhaseStarted(name, total))
        return lambda: events(CaseDone(name))

    return phase
