"""The strategy seam: a trial to run variants in, the state strategies pass along, and what a strategy is.

A strategy (a lever) names every variant it may run up front, so the plan and the budget gate price exactly those;
then, given the trial (run any variant on any model, priced at its own price, against the baseline's answers on
the same cases) and the state the strategies before it produced, it returns its typed section of the result
(inspect_ai's Solver and chain, STYLE.md §13: what an earlier strategy found arrives as state, not as an extra
argument on a parallel path). The engine (promptslim/engine/run.py) runs a list of them in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol, Sequence, TypeVar

from promptslim.engine.evaluator import CaseResult, Evaluator, Summary, VariantResult
from promptslim.results import SideErrors

Phase = Callable[[str, int], Callable[[], None]]  # (phase name, total cases) -> tick
T = TypeVar("T")


@dataclass(frozen=True)
class Variant:
    """One prompt to evaluate: its template source, the model it is sent to (None: the model under test),
    and the units it removes from the template."""

    label: str
    source: str
    model: str | None = None
    removes: frozenset[int] = field(default_factory=frozenset)


@dataclass
class Trial:
    """What a strategy works with: the evaluator, the baseline's answers, the margin, a progress hook."""

    ev: Evaluator
    baseline: VariantResult
    margin: float
    phase: Phase | None = None

    def tick(self, name: str, total: int) -> None:
        self.ev.on_case = self.phase(name, total) if self.phase else None

    def run(self, variant: Variant, indices: list[int] | None = None) -> Awaitable[VariantResult]:
        return self.ev.run(variant.source, indices, model=variant.model)

    def baseline_on(self, indices: Sequence[int]) -> list[CaseResult]:
        return [self.baseline.cases[i] for i in indices]

    def saves(self, base: Summary, variant: Summary, model: str | None = None) -> tuple[float, float, bool]:
        """($/call saved, $/month saved, saves money): input savings must beat any extra output cost."""
        price = self.ev.price_of(model)
        per_call = base.usd_per_call - variant.usd_per_call
        if price.input == 0 and price.output == 0:
            saves = (base.input_tokens - variant.input_tokens) - (variant.output_tokens - base.output_tokens) > 0
        else:
            saves = per_call > 0
        return per_call, per_call * self.ev.calls_per_month, saves


@dataclass(frozen=True)
class State:
    """What the strategies before this one found: their sections, in the order they ran."""

    sections: tuple[Any, ...] = ()

    def of(self, kind: type[T]) -> T | None:
        """The section of that type an earlier strategy returned, or None."""
        return next((s for s in self.sections if isinstance(s, kind)), None)

    def add(self, section: Any) -> "State":
        return State((*self.sections, section))


class Strategy(Protocol):
    """A lever: the variants it may run, and its typed section of the result.

    Optionally `prepare(setup) -> Strategy`: bind to a prepared run before the plan (validate its options, propose
    what it will test; the rewriter spends here) — promptslim/engine/setup.py Prepared.
    """

    def variants(self) -> list[Variant]:
        """Every variant this strategy may run besides the baseline (at most): what the plan prices."""
        ...

    async def run(self, trial: Trial, state: State) -> Any:
        """Run its variants against the baseline and return its section (results.Section, or the removal's)."""
        ...


def paired(variant: Sequence[CaseResult], baseline: Sequence[CaseResult]) -> tuple[list[float], SideErrors]:
    """Deltas over cases scored on both sides, and how many cases each side's judge errors left out."""
    deltas, base_err, var_err = [], 0, 0
    for v, b in zip(variant, baseline):
        if b.score is None:
            base_err += 1
        elif v.score is None:
            var_err += 1
        else:
            deltas.append(v.score - b.score)
    return deltas, SideErrors(base_err, var_err)


def bounds(low: float | None, high: float | None) -> list[float] | None:
    if low is None or high is None:
        return None
    return [round(low, 6), round(high, 6)]
