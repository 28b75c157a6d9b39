"""The engine: the baseline once, then each strategy in order, each given the trial and the state the ones before it
produced. `ablate`, `tier`, `check --also-model` and `ablate --also-model/--rewrite` are this one loop with
different lists of strategies; what each command writes is assembled from the returned state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from promptslim.engine.evaluator import Evaluator, VariantResult
from promptslim.engine.trial import Phase, State, Strategy, Trial, Variant


@dataclass(frozen=True)
class Outcome:
    """The baseline's answers, what every strategy returned, and how long it all took."""

    baseline: VariantResult
    state: State
    wall_seconds: float

    @property
    def sections(self) -> tuple[Any, ...]:
        return self.state.sections


def planned(template_source: str, strategies: Sequence[Strategy]) -> list[Variant]:
    """The baseline and every variant the strategies may run: what the plan and the budget gate price."""
    return [Variant("baseline", template_source), *(v for s in strategies for v in s.variants())]


async def run_strategies(trial: Trial, strategies: Sequence[Strategy], state: State = State()) -> State:
    """Each strategy in order, the state passed along (check runs them on answers it already has)."""
    for strategy in strategies:
        state = state.add(await strategy.run(trial, state))
    return state


async def run(ev: Evaluator, margin: float, strategies: Sequence[Strategy], phase: Phase | None = None,
              on_baseline: Callable[[VariantResult], None] | None = None) -> Outcome:
    """Every variant renders for every case before any call; then the baseline, then the strategies. `on_baseline`
    sees the baseline's answers before any strategy runs (the headroom warning is said there)."""
    started = time.monotonic()
    for variant in planned(ev.template.source, strategies):
        ev.messages(variant.source)
    ev.on_case = phase("baseline", len(ev.evalset.cases)) if phase else None
    baseline = await ev.run(ev.template.source)
    if on_baseline is not None:
        on_baseline(baseline)
    state = await run_strategies(Trial(ev, baseline, margin, phase), strategies)
    return Outcome(baseline, state, time.monotonic() - started)
