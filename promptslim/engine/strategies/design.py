"""Which removal design runs (issue 23): flat leave-one-out or the tree, and what the plan says about both.

`--design auto` (the default) picks the cheaper design that can decide: a design "can decide" when a node that
changes no answer can be called removable at its first level at this eval set's size — for flat, a unit under Holm
over every unit; for the tree, a section at its first step. When only one can, it runs; when both can, the cheaper
plan runs — fewer target calls at most, then fewer $; flat on a tie; when neither can, flat runs (per-unit `keep` verdicts are what such a run can give) and
the plan says what the tree would cost. A prompt with fewer than two sections is always flat.
"""

from __future__ import annotations

from typing import Any

from promptslim import limits
from promptslim.decide import min_cases_unchanged, power_plan
from promptslim.engine.strategies.leave_one_out import RemoveUnits
from promptslim.engine.strategies.tree import DEPTH_NAMES, RemoveTree, TreeDesign
from promptslim.errors import InputError, PromptslimError

DESIGNS = ("auto", "flat", "tree")


class ChooseDesign:
    """A stand-in for the removal until the run is prepared: prepare() returns the strategy that will run, carrying
    the plan's lines about the designs (`plan_lines`) and the nodes' estimate (`extra_plan`, tree only)."""

    def __init__(self, design: str = "auto") -> None:
        if design not in DESIGNS:
            raise InputError(f"--design: unknown design '{design}' (known: {', '.join(DESIGNS)})")
        self.design = design

    def variants(self) -> list:
        raise AssertionError("prepare() first")

    def prepare(self, setup: Any) -> RemoveUnits | RemoveTree:
        tpl = setup.template
        if not tpl.candidates:
            raise PromptslimError(f"{tpl.rel}: no removable units (all pinned or fixed) — see `promptslim units {tpl.rel}`")
        n, margin = len(setup.evalset.cases), setup.settings.margin.value
        k = len(tpl.candidates)
        flat_power = power_plan(n, k, margin)
        if self.design == "flat":
            return _with(RemoveUnits().prepare(setup), [flat_power])
        tree = RemoveTree().prepare(setup)
        plan = tree.plan
        assert plan is not None
        chosen, why = self.pick(plan, n, k, margin)
        lines = plan_lines(plan, chosen, why)
        if chosen == "flat":
            return _with(RemoveUnits().prepare(setup), [flat_power, *lines[:1]] if plan.applicable else [flat_power])
        cost = plan.cost
        runs = cost.variants - 1  # the baseline is priced by the engine's own plan
        tree.extra_plan = dict(variants=runs, calls=cost.target_calls - plan.rates.calls,
                               judge_calls=max(cost.judge_calls - plan.rates.calls, 0),
                               input_tokens=cost.input_tokens - int(plan.rates.base_tokens * plan.rates.calls),
                               output_tokens=cost.output_tokens - plan.rates.answer * plan.rates.calls,
                               usd=cost.usd - plan.rates.test_usd(0))
        tree.plan_lines = lines
        return tree

    def pick(self, plan: TreeDesign, n: int, k: int, margin: float) -> tuple[str, str]:
        """(design, why) for --design auto or tree."""
        if self.design == "tree":
            return "tree", "--design tree"
        flat_n = min_cases_unchanged(k, margin)
        tree_n = plan.facts().cases_unchanged_section
        if not plan.applicable:
            return "flat", "the prompt has fewer than two sections to test"
        limit = limits.current().max_units
        if k > limit:
            return "tree", f"{k:,} units are more than flat may test one by one (max_units {limit:,})"
        flat_ok, tree_ok = n >= flat_n, plan.can_decide()
        if tree_ok and not flat_ok:
            return "tree", (f"a unit that changes no answer needs {flat_n} cases under flat, a section {tree_n}; "
                            f"this eval set has {n}")
        if flat_ok and not tree_ok:
            return "flat", f"the tree's sections would need {tree_n} cases to be decided, flat's units {flat_n}"
        if flat_ok and tree_ok:  # at most: the tree's descent below every section, flat's every unit
            tree = plan.uncapped  # a budget that caps the descent must not make the tree look cheaper
            cheaper = "tree" if (tree.target_calls, tree.usd) < (plan.flat.target_calls, plan.flat.usd) else "flat"
            return cheaper, f"both can decide at {n} cases; {cheaper} plans fewer calls at most"
        return "flat", (f"neither design can call a node that changes no answer removable at {n} cases (flat needs "
                        f"{flat_n}, the tree's sections {tree_n}); --design tree would test the sections for "
                        f"{plan.cost.target_calls / max(plan.flat.target_calls, 1):.0%} of flat's calls")


def _with(strategy: Any, lines: list[str]) -> Any:
    strategy.plan_lines = lines
    return strategy
def plan_lines(design: TreeDesign, chosen: str, why: str) -> list[str]:
    """What the plan says about the designs before any call (stderr): both designs' cost, what each can decide at
    this N, what is not worth testing, and what the budget left out."""
    d, flat, cost = design, design.flat, design.cost
    n = design.rates.cases
    lines = [f"design: {chosen} ({why}) — flat leave-one-out: {flat.variants} variants, {flat.target_calls:,} target "
             f"calls, ~${flat.usd:,.2f}; tree: at most {cost.variants} variants, {cost.target_calls:,} target calls, "
             f"~${cost.usd:,.2f} (the descent runs only below sections that are not removable)"]
    facts = d.facts()
    text = (f"tree: {facts.sections_tested} sections at α/{facts.sections_tested}"
            + (f"·{1 - facts.rho:g}" if facts.rho else "")
            + f": a section that changes no answer can be removable from {facts.cases_unchanged_section} cases "
            f"(this eval set has {n})")
    if facts.below_level:
        text += (f"; {facts.nodes_tested - facts.sections_tested} nodes below them share ρ = {facts.rho:g} of α, "
                 f"each removable from {facts.cases_unchanged_below} cases")
    else:
        text += "; nothing below the sections is tested at this N (the descent could not call anything removable)"
    lines.append(text)
    skipped = [x for x in d.tree.nodes if x not in d.worth]
    if not facts.traffic:
        lines.append("tree: no calls_per_month — no node is ruled out as not worth testing; the tokens a node saves "
                     "per call set the slim prompt's order")
    elif skipped:
        most = max(d.rates.saves_per_month(d.tokens[x]) for x in skipped)
        lines.append(f"tree: {len(skipped)} nodes are not worth testing within {d.payback_months:g} months (each saves "
                     f"at most ${most:,.2f}/month; a test costs about ${d.rates.test_usd(0):,.2f})")
    if d.capped:
        lines.append(f"tree: --max-cost leaves {len(d.capped)} nodes below depth {d.levels.depth} untested "
                     f"(descent capped at {DEPTH_NAMES.get(d.levels.depth, d.levels.depth)})")
    return lines
