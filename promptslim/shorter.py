"""The say-it-shorter strategy: each vetted rewrite is a variant decided against the baseline like a removal
(non-inferiority at the margin, Holm across the rewrites), then the slim prompt plus the rewrites that held is
verified as one prompt, as a fixed sequence at 97.5% per step.

Why its own sequence after the slim one: the slim chain spends its 2.5%; the rewrite chain, fixed in order by
$ saved before its runs, spends another 2.5%, so the shipped rewritten prompt is wrong at most 5% of the time.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptslim.decide import UnitDecision, decide_units, slim_order, slim_step
from promptslim.evaluate import Summary, VariantResult
from promptslim.results import SideErrors, SlimStep
from promptslim.results.tier import ModelVerdict
from promptslim.rewrite import Rewrite, apply
from promptslim.strategy import Trial, Variant, bounds, paired
from promptslim.template import Template

@dataclass(frozen=True)
class RewriteResult:
    """What one rewrite did against the baseline on the same cases."""

    rewrite: Rewrite
    summary: Summary
    decision: UnitDecision
    judge_errors: SideErrors
    input_tokens_saved: float
    output_tokens_delta: float
    usd_per_call_saved: float
    usd_per_month_saved: float
    saves_money: bool

    @property
    def verdict(self) -> ModelVerdict:
        return ModelVerdict.of(self.decision.verdict)


@dataclass(frozen=True)
class Rewritten:
    """The slim prompt with the rewrites the fixed sequence verified (none: the slim prompt as it was)."""

    source: str
    result: VariantResult | None
    rewrites: list[Rewrite]
    deltas: list[float]
    low: float | None
    high: float | None
    steps: list[SlimStep]


class SayShorter:
    """One variant per vetted rewrite (the template otherwise unchanged), then the combined prompt."""

    two_stage = False

    def __init__(self, template: Template, rewrites: list[Rewrite]) -> None:
        self.template = template
        self.rewrites = rewrites

    def variants(self) -> list[Variant]:
        """Every rewrite on its own, and (at most) one combined run per rewrite in the sequence."""
        each = [Variant(f"rewrite unit {r.unit.id}", apply(self.template, [], [r])) for r in self.rewrites]
        chain = [Variant(f"rewritten {k}", apply(self.template, [], self.rewrites[:k]))
                 for k in range(1, len(self.rewrites) + 1)]
        return each + chain

    async def decide(self, trial: Trial, removed: set[int] | frozenset[int] = frozenset()) -> list[RewriteResult]:
        """Rewrites of units the slim prompt keeps, each against the baseline, Holm across them."""
        ev = trial.ev
        todo = [r for r in self.rewrites if r.unit.id not in removed]
        if not todo:
            return []
        trial.tick("rewrites", len(ev.evalset.cases) * len(todo))
        runs = await ev.runner.gather(trial.run(Variant(f"rewrite unit {r.unit.id}", apply(self.template, [], [r])))
                                      for r in todo)
        pairs = [paired(run.cases, trial.baseline.cases) for run in runs]
        decisions = decide_units([d for d, _ in pairs], trial.margin)
        base = trial.baseline.summary
        out = []
        for r, run, decision, (_, errors) in zip(todo, runs, decisions, pairs):
            per_call, per_month, saves = trial.saves(base, run.summary)
            out.append(RewriteResult(r, run.summary, decision, errors,
                                     base.input_tokens - run.summary.input_tokens,
                                     run.summary.output_tokens - base.output_tokens, per_call, per_month, saves))
        return out

    async def combine(self, trial: Trial, findings: list[RewriteResult], removed: list[int]) -> Rewritten:
        """Add the rewrites one at a time to the slim prompt in a fixed order; ship the last step that held."""
        ev, baseline = trial.ev, trial.baseline
        order = slim_order([f.decision for f in findings], [f.saves_money for f in findings],
                           [f.usd_per_call_saved for f in findings])
        # as for the slim prompt: every rewrite that saves money, the non-inferior ones first (decide.slim_order)
        pool, units = [], set()
        for j in order:  # one wording per unit: the first in the order
            if findings[j].rewrite.unit.id not in units:
                units.add(findings[j].rewrite.unit.id)
                pool.append(findings[j])
        best = Rewritten(apply(self.template, removed, []), None, [], [], None, None, [])
        steps: list[SlimStep] = []
        for size in range(1, len(pool) + 1):
            chosen = [f.rewrite for f in pool[:size]]
            source = apply(self.template, removed, chosen)
            trial.tick(f"rewritten ({size} rewrite{'s' if size > 1 else ''})", len(ev.evalset.cases))
            result = await trial.run(Variant(f"rewritten {size}", source))
            deltas, errors = paired(result.cases, baseline.cases)
            ok, low, high = slim_step(deltas, trial.margin)
            saves = trial.saves(baseline.summary, result.summary)[2]
            steps.append(SlimStep(sorted([*removed, *(r.unit.id for r in chosen)]), bounds(low, high), ok, saves,
                                  errors))
            if not (ok and saves):
                break
            best = Rewritten(source, result, chosen, deltas, low, high, [])
        return Rewritten(best.source, best.result, best.rewrites, best.deltas, best.low, best.high, steps)
